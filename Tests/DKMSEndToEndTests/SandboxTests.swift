import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// Builds in their sandbox, and one module built for several kernels at once.
@Suite("Sandboxed and concurrent builds", .serialized)
struct SandboxTests {
    static let kernels = ["6.1.0-1-fake", "6.1.0-2-fake", "6.1.0-3-fake"]

    func sandbox(kernels: [String] = kernels) -> DKMSSandbox {
        let sandbox = DKMSSandbox()
        for kernel in kernels { sandbox.addFakeKernel(kernel) }
        return sandbox
    }

    /// A module whose build command also writes `marker` (outside its build directory).
    func writeEscapingModule(_ sandbox: DKMSSandbox, marker: String) -> String {
        sandbox.writeModule(name: "escape", version: "1.0", conf: """
            PACKAGE_NAME=escape
            PACKAGE_VERSION=1.0
            BUILT_MODULE_NAME[0]=escape
            DEST_MODULE_LOCATION[0]=/extra
            MAKE[0]="touch \(marker) ; make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build"
            """)
    }

    func normalized(_ result: CommandResult, _ sandbox: DKMSSandbox) -> String {
        result.combined.replacingOccurrences(of: sandbox.root.path, with: "ROOT")
            .replacingOccurrences(of: #"make -j\d+ "#, with: "make -jN ", options: .regularExpression)
            .replacingOccurrences(of: #"\.{2,}"#, with: "...", options: .regularExpression)
    }

    @Test func theBuildCannotWriteOutsideItsDirectory() {
        let sandbox = sandbox(kernels: [Self.kernels[0]])
        let marker = sandbox.root.child("outside")
        _ = sandbox.dkms(["add", writeEscapingModule(sandbox, marker: marker)])
        let r = sandbox.dkms(["build", "escape/1.0", "-k", Self.kernels[0]])
        #expect(r.status == 0, "\(r)")
        #expect(!FileSystem.exists(marker))
        #expect(FileSystem.isRegularFile("\(sandbox.dkmsTree)/escape/1.0/\(Self.kernels[0])/\(DKMSSandbox.arch)/module/escape.ko"))
        #expect(!FileSystem.exists("\(sandbox.dkmsTree)/escape/1.0/build"))
        #expect(!FileSystem.entries(of: "\(sandbox.dkmsTree)/escape/1.0").contains { $0.hasPrefix(".build_") })
    }

    @Test func frameworkConfTurnsTheSandboxOff() {
        let sandbox = sandbox(kernels: [Self.kernels[0]])
        let marker = sandbox.root.child("outside")
        Files.write("build_sandbox=\"no\"\n", to: sandbox.etc + "/framework.conf")
        _ = sandbox.dkms(["add", writeEscapingModule(sandbox, marker: marker)])
        #expect(sandbox.dkms(["build", "escape/1.0", "-k", Self.kernels[0]]).status == 0)
        #expect(FileSystem.exists(marker))
    }

    @Test func onlyTheAdminTurnsItOffForOneModule() {
        let sandbox = sandbox(kernels: [Self.kernels[0]])
        let marker = sandbox.root.child("outside")
        let source = writeEscapingModule(sandbox, marker: marker)
        // The module itself cannot ask for it.
        Files.write((Files.read(source + "/dkms.conf") ?? "") + "\nBUILD_SANDBOX=no\n", to: source + "/dkms.conf")
        _ = sandbox.dkms(["add", source])
        #expect(sandbox.dkms(["build", "escape/1.0", "-k", Self.kernels[0]]).status == 0)
        #expect(!FileSystem.exists(marker))
        Files.write("BUILD_SANDBOX=no\n", to: sandbox.etc + "/escape.conf")
        #expect(sandbox.dkms(["build", "escape/1.0", "-k", Self.kernels[0], "--force"]).status == 0)
        #expect(FileSystem.exists(marker))
    }

    @Test func aFailedBuildLeavesItsDirectoryAndLogWhereUpstreamDoes() {
        let sandbox = sandbox(kernels: [Self.kernels[0]])
        let source = sandbox.writeModule(name: "broken", version: "1.0")
        Files.write("not C\n", to: source + "/broken.c")
        _ = sandbox.dkms(["add", source])
        let r = sandbox.dkms(["build", "broken/1.0", "-k", Self.kernels[0]])
        #expect(r.status == 10)
        let build = "\(sandbox.dkmsTree)/broken/1.0/build"
        #expect(r.stderr.contains("Consult \(build)/make.log for more information."))
        #expect((Files.read(build + "/make.log") ?? "").contains("# exit code: 2"))
        #expect(FileSystem.isRegularFile(build + "/broken.c"))
        #expect(!FileSystem.entries(of: "\(sandbox.dkmsTree)/broken/1.0").contains { $0.hasPrefix(".build_") })
    }

    /// Several kernels at once print and leave exactly what one at a time does.
    @Test(arguments: ["build", "install"])
    func severalKernelsAtOnceAsOneAtATime(action: String) {
        var results: [(CommandResult, DKMSSandbox)] = []
        for jobs in ["1", "3"] {
            let sandbox = sandbox()
            sandbox.environment["parallel_jobs"] = jobs
            _ = sandbox.dkms(["add", sandbox.writeModule(name: "multi", version: "1.0", modules: ["one", "two"])])
            let r = sandbox.dkmsMerged([action, "multi/1.0"] + Self.kernels.flatMap { ["-k", $0] })
            results.append((r, sandbox))
        }
        let (serial, serialBox) = results[0]
        let (parallel, parallelBox) = results[1]
        #expect(serial.status == 0)
        #expect(parallel.status == 0)
        #expect(normalized(parallel, parallelBox) == normalized(serial, serialBox))
        #expect(parallelBox.dkms(["status"]).stdout.replacingOccurrences(of: parallelBox.root.path, with: "")
            == serialBox.dkms(["status"]).stdout.replacingOccurrences(of: serialBox.root.path, with: ""))
        for kernel in Self.kernels {
            #expect(FileSystem.isRegularFile("\(parallelBox.dkmsTree)/multi/1.0/\(kernel)/\(DKMSSandbox.arch)/module/two.ko"))
        }
        #expect(!FileSystem.exists("\(parallelBox.dkmsTree)/multi/1.0/build"))
    }

    @Test func oneKernelFailingLeavesTheOthersBuilt() {
        let sandbox = sandbox()
        sandbox.environment["parallel_jobs"] = "3"
        // The second kernel's headers are broken.
        Files.write("all:\n\tfalse\n", to: "\(sandbox.installTree)/\(Self.kernels[1])/build/Makefile")
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "multi", version: "1.0")])
        let r = sandbox.dkms(["build", "multi/1.0"] + Self.kernels.flatMap { ["-k", $0] })
        #expect(r.status == 0, "the last kernel's status, as upstream")
        #expect(r.stderr.contains("Bad return status for module build on kernel: \(Self.kernels[1])"))
        let status = sandbox.dkms(["status"]).stdout
        #expect(status.contains("multi/1.0, \(Self.kernels[0]), \(DKMSSandbox.arch): built"))
        #expect(!status.contains(Self.kernels[1]))
        #expect(status.contains("multi/1.0, \(Self.kernels[2]), \(DKMSSandbox.arch): built"))
        #expect((Files.read("\(sandbox.dkmsTree)/multi/1.0/build/make.log") ?? "").contains("for kernel \(Self.kernels[1])"))
    }

    /// `autoinstall --all-kernels` (not in upstream) builds for every kernel with headers at once.
    @Test func autoinstallForEveryKernel() {
        let sandbox = sandbox(kernels: Array(Self.kernels.prefix(2)))
        sandbox.environment["parallel_jobs"] = "3"
        for name in ["alpha", "bravo"] { _ = sandbox.dkms(["add", sandbox.writeModule(name: name, version: "1.0")]) }
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "charlie", version: "1.0", conf: """
            PACKAGE_NAME=charlie
            PACKAGE_VERSION=1.0
            BUILT_MODULE_NAME[0]=charlie
            DEST_MODULE_LOCATION[0]=/extra
            BUILD_DEPENDS[0]=alpha
            AUTOINSTALL=yes
            """)])
        // Several -k stay refused, as upstream refuses them.
        let refused = sandbox.dkms(["autoinstall", "-k", Self.kernels[0], "-k", Self.kernels[1]])
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("The action autoinstall does not support multiple kernel version parameters on the command line."))
        #expect(sandbox.dkms(["autoinstall", "--all-kernels", "-k", Self.kernels[0]]).status == 2)
        let plan = sandbox.dkms(["autoinstall", "--dry-run", "--all-kernels"])
        let r = sandbox.dkms(["autoinstall", "--all-kernels"])
        #expect(r.status == 0, "\(r)")
        let summaries = r.stdout.split(separator: "\n").filter { $0.hasPrefix("Autoinstall on") }
        #expect(summaries == Self.kernels.prefix(2).map { "Autoinstall on \($0) succeeded for module(s) alpha bravo charlie." })
        // The order the plan announced is the order that ran.
        let ran = r.stdout.split(separator: "\n").filter { $0.hasPrefix("Autoinstall of module") }
            .map { $0.split(separator: " ")[3] }
        let planned = plan.stdout.split(separator: "\n").filter { $0.hasPrefix("  ") && $0.contains(": build and install") }
            .map { $0.split(separator: " ")[1].dropLast() }
        #expect(ran.map(String.init) == planned.map(String.init), "plan:\n\(plan.stdout)\nrun:\n\(r.stdout)")
        for kernel in Self.kernels.prefix(2) {
            for name in ["alpha", "bravo", "charlie"] {
                #expect(FileSystem.isRegularFile("\(sandbox.installTree)/\(kernel)/updates/dkms/\(name).ko"))
            }
        }
    }

    /// A module whose build command runs `command` before making the module.
    func writeModule(_ sandbox: DKMSSandbox, name: String, command: String) -> String {
        sandbox.writeModule(name: name, version: "1.0", conf: """
            PACKAGE_NAME=\(name)
            PACKAGE_VERSION=1.0
            BUILT_MODULE_NAME[0]=\(name)
            DEST_MODULE_LOCATION[0]=/extra
            AUTOINSTALL=yes
            MAKE[0]="\(command) ; make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build"
            """)
    }

    /// The build runs as an unprivileged user (nobody here: the test host
    /// has no dkms-build user) that cannot read root's files, and what it
    /// leaves is root's again afterwards.
    @Test func theBuildRunsAsAUserThatOwnsNothing() throws {
        try #require(geteuid() == 0, "dkms switches users only as root")
        let sandbox = sandbox(kernels: [Self.kernels[0]])
        FileSystem.makeDirectories(sandbox.dkmsTree)
        let secret = sandbox.dkmsTree + "/secret"
        Files.write("root-only-\(getpid())\n", to: secret)
        chmod(secret, 0o600)
        let source = writeModule(sandbox, name: "who", command: "sh ./probe.sh")
        Files.write("echo BUILD-UID=$(id -u):$(id -g)\ncat \(secret)\ntrue\n", to: source + "/probe.sh")
        _ = sandbox.dkms(["add", source])
        let r = sandbox.dkms(["build", "who/1.0", "-k", Self.kernels[0]])
        #expect(r.status == 0, "\(r)")
        let log = Files.read("\(sandbox.dkmsTree)/who/1.0/\(Self.kernels[0])/\(DKMSSandbox.arch)/log/make.log") ?? ""
        let identity = BuildIdentity.resolve(user: "")
        #expect(log.contains("BUILD-UID=\(identity.uid):\(identity.gid)"), "\(log)")
        #expect(log.contains("Permission denied"))
        #expect(!log.contains("root-only-"), "the build could read a root 0600 file")
        #expect(!r.combined.contains("root-only-"))
    }

    /// An admin's tree in a private directory (`mktemp -d`, under /root)
    /// cannot be entered by the build user: the build says so and how to
    /// fix it, instead of a make "Permission denied" in the log.
    @Test func aTreeTheBuildUserCannotEnterIsAClearError() throws {
        try #require(geteuid() == 0, "dkms switches users only as root")
        let sandbox = sandbox(kernels: [Self.kernels[0]])
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "hidden", version: "1.0")])
        chmod(sandbox.root.path, 0o700)
        defer { chmod(sandbox.root.path, 0o755) }
        let r = sandbox.dkms(["build", "hidden/1.0", "-k", Self.kernels[0]])
        #expect(r.status == 10)
        let identity = BuildIdentity.resolve(user: "")
        #expect(r.stderr.contains("Error! The build of hidden/1.0 for kernel \(Self.kernels[0]) (\(DKMSSandbox.arch)) runs as \(identity) in its sandbox, which cannot enter \(sandbox.root.path) (mode 0700)."), "\(r)")
        #expect(r.stderr.contains("chmod o+x \(sandbox.root.path)"))
        chmod(sandbox.root.path, 0o711)
        #expect(sandbox.dkms(["build", "hidden/1.0", "-k", Self.kernels[0]]).status == 0, "search permission is enough")
    }

    /// Where the sandbox cannot switch to the build user (setpriv fails),
    /// builds still run sandboxed, and dkms says once per tree that the
    /// "owns nothing" promise does not hold there.
    @Test func withoutTheBuildUserDkmsSaysSoOnce() throws {
        try #require(geteuid() == 0, "dkms switches users only as root")
        var sandbox = sandbox(kernels: [Self.kernels[0]])
        let tools = sandbox.root.child("tools")
        Files.write("#!/bin/sh\nexit 1\n", to: tools + "/setpriv", executable: true)
        sandbox.environment["PATH"] = tools + ":" + (sandbox.environment["PATH"] ?? "/usr/bin:/bin")
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "first", version: "1.0")])
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "second", version: "1.0")])
        let first = sandbox.dkms(["build", "first/1.0", "-k", Self.kernels[0]])
        #expect(first.status == 0, "\(first)")
        #expect(first.stderr.contains("dkms: builds cannot run as \(BuildIdentity.resolve(user: "")) here (setpriv failed in the sandbox)"), "\(first)")
        let second = sandbox.dkms(["build", "second/1.0", "-k", Self.kernels[0]])
        #expect(second.status == 0)
        #expect(!second.stderr.contains("cannot run as"), "once per tree")
    }

    /// docs/sandbox.md's "user" row, for every step of a build (a patch's
    /// command aside, PRE_BUILD, make and POST_BUILD): the build user, no
    /// supplementary group, no capability in any set, no_new_privs, and no
    /// terminal (its own session, stdin /dev/null).
    @Test func everyStepRunsAsTheBuildUserWithoutPrivileges() throws {
        try #require(geteuid() == 0, "dkms switches users only as root")
        let sandbox = sandbox(kernels: [Self.kernels[0]])
        let probe = """
            #!/bin/sh
            echo "STEP $1 uid=$(id -u) gid=$(id -g) groups=$(id -G)"
            grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status | sed "s/^/STEP $1 /"
            echo "STEP $1 sid=$(ps -o sid= -p $$ | tr -d ' ') pid=$$ stdin=$(readlink /proc/self/fd/0)"

            """
        let source = sandbox.writeModule(name: "priv", version: "1.0", conf: """
            PACKAGE_NAME=priv
            PACKAGE_VERSION=1.0
            BUILT_MODULE_NAME[0]=priv
            DEST_MODULE_LOCATION[0]=/extra
            PRE_BUILD="probe.sh pre"
            POST_BUILD="probe.sh post"
            MAKE[0]="sh ./probe.sh make; make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build"
            """)
        Files.write(probe, to: source + "/probe.sh", executable: true)
        _ = sandbox.dkms(["add", source])
        let r = sandbox.dkms(["build", "priv/1.0", "-k", Self.kernels[0]])
        #expect(r.status == 0, "\(r)")
        let log = Files.read("\(sandbox.dkmsTree)/priv/1.0/\(Self.kernels[0])/\(DKMSSandbox.arch)/log/make.log") ?? ""
        let identity = BuildIdentity.resolve(user: "")
        for step in ["pre", "make", "post"] {
            let lines = log.split(separator: "\n").filter { $0.hasPrefix("STEP \(step) ") }.map(String.init)
            #expect(lines.contains("STEP \(step) uid=\(identity.uid) gid=\(identity.gid) groups=\(identity.gid)"), "\(step): \(lines)")
            for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
                #expect(lines.contains("STEP \(step) \(set):\t0000000000000000"), "\(step) \(set): \(lines)")
            }
            #expect(lines.contains("STEP \(step) NoNewPrivs:\t1"), "\(step): \(lines)")
            let session = lines.first { $0.contains(" sid=") } ?? ""
            #expect(session.contains(" stdin=/dev/null"), "\(step): \(session)")
            let sid = session.split(separator: " ").first { $0.hasPrefix("sid=") }.map { String($0.dropFirst(4)) }
            #expect(sid != nil && sid != String(getsid(0)), "\(step) runs in a session of its own: \(session)")
        }
    }

    /// The build's start and end (ns), its uid and working directory, as
    /// `probe.sh` logged them to each kernel's make.log.
    func probes(_ sandbox: DKMSSandbox, module: String) -> [(start: Int, end: Int, uid: String, directory: String)] {
        Self.kernels.compactMap { kernel in
            let log = Files.read("\(sandbox.dkmsTree)/\(module)/1.0/\(kernel)/\(DKMSSandbox.arch)/log/make.log") ?? ""
            var fields: [String: String] = [:]
            for line in log.split(separator: "\n") where line.hasPrefix("PROBE ") {
                let parts = line.dropFirst(6).split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { fields[parts[0]] = parts[1] }
            }
            guard let start = fields["start"].flatMap(Int.init), let end = fields["end"].flatMap(Int.init),
                  let uid = fields["uid"], let directory = fields["pwd"] else { return nil }
            return (start, end, uid, directory)
        }
    }

    func writeProbingModule(_ sandbox: DKMSSandbox, name: String) {
        let source = writeModule(sandbox, name: name, command: "sh ./probe.sh")
        Files.write("""
            echo PROBE start=$(date +%s%N)
            echo PROBE uid=$(id -u)
            echo PROBE pwd=$PWD
            sleep 2
            echo PROBE end=$(date +%s%N)

            """, to: source + "/probe.sh")
        _ = sandbox.dkms(["add", source])
    }

    /// Without bubblewrap (here a bwrap that cannot make a namespace), dkms
    /// says once per tree that builds run without a sandbox, then builds
    /// as upstream does: as root, in the version's own build directory, and
    /// one kernel after another (they share that directory). The control:
    /// with bubblewrap the same command builds for the three kernels at
    /// once, as the build user.
    @Test func withoutBubblewrapBuildsRunAsUpstreamsOneAtATime() throws {
        try #require(geteuid() == 0, "dkms switches users only as root")
        var sandbox = sandbox()
        let kernels = Self.kernels.flatMap { ["-k", $0] }
        writeProbingModule(sandbox, name: "boxed")
        var r = sandbox.dkms(["build", "boxed/1.0", "-j", "3"] + kernels)
        #expect(r.status == 0, "\(r)")
        let boxed = probes(sandbox, module: "boxed")
        #expect(boxed.count == 3, "\(r)")
        #expect(boxed.allSatisfy { $0.uid == String(BuildIdentity.resolve(user: "").uid) }, "\(boxed)")
        let overlapping = boxed.contains { one in boxed.contains { other in one.start != other.start && one.start < other.end && other.start < one.end } }
        #expect(overlapping, "the control: sandboxed builds for several kernels run at once: \(boxed)")

        let tools = sandbox.root.child("tools")
        Files.write("#!/bin/sh\nexit 1\n", to: tools + "/bwrap", executable: true)
        sandbox.environment["PATH"] = tools + ":" + (sandbox.environment["PATH"] ?? "/usr/bin:/bin")
        writeProbingModule(sandbox, name: "plain")
        r = sandbox.dkms(["build", "plain/1.0", "-j", "3"] + kernels)
        #expect(r.status == 0, "\(r)")
        let notice = "dkms: bubblewrap (bwrap) is not available: modules are built without a sandbox, one build of a module version at a time.\n"
        #expect(r.stderr.components(separatedBy: notice).count == 2, "said once: \(r.stderr)")
        let plain = probes(sandbox, module: "plain").sorted { $0.start < $1.start }
        #expect(plain.count == 3, "\(r)")
        #expect(plain.allSatisfy { $0.uid == "0" && $0.directory == "\(sandbox.dkmsTree)/plain/1.0/build" }, "\(plain)")
        #expect(zip(plain, plain.dropFirst()).allSatisfy { $0.end <= $1.start }, "one after another: \(plain)")
        _ = sandbox.dkms(["remove", "plain/1.0", "--all"])
        writeProbingModule(sandbox, name: "plain")
        r = sandbox.dkms(["build", "plain/1.0", "-k", Self.kernels[0]])
        #expect(r.status == 0 && !r.stderr.contains("bubblewrap"), "once per tree: \(r)")
    }

    @Test func aBuildThatNeverEndsStopsAtTheTimeLimitAndTheAutoinstallGoesOn() {
        let sandbox = sandbox(kernels: [Self.kernels[0]])
        Files.write("build_time_limit=2\n", to: sandbox.etc + "/framework.conf")
        _ = sandbox.dkms(["add", writeModule(sandbox, name: "aaslow", command: "sleep 60")])
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "bbfine", version: "1.0")])
        let start = Date()
        let r = sandbox.dkms(["autoinstall", "-k", Self.kernels[0]])
        #expect(Date().timeIntervalSince(start) < 30)
        #expect(r.status == 11, "autoinstall's status when a module failed, as upstream")
        let build = "\(sandbox.dkmsTree)/aaslow/1.0/build"
        #expect(r.stderr.contains("Error! The build of aaslow/1.0 for kernel \(Self.kernels[0]) (\(DKMSSandbox.arch)) ran longer than its time limit (build_time_limit=2 seconds) and was stopped."), "\(r)")
        #expect(r.stderr.contains("Consult \(build)/make.log for more information."))
        #expect((Files.read(build + "/make.log") ?? "").contains("# stopped by dkms: build_time_limit=2 seconds reached"))
        #expect(sandbox.dkms(["status"]).stdout.contains("bbfine/1.0, \(Self.kernels[0]), \(DKMSSandbox.arch): installed"))
    }

    @Test func aBuildStoppedAtTheProcessLimitSaysSoWithExit10() {
        let sandbox = sandbox(kernels: [Self.kernels[0]])
        Files.write("build_max_processes=20\nbuild_time_limit=60\n", to: sandbox.etc + "/framework.conf")
        let source = writeModule(sandbox, name: "forks", command: "sh ./forks.sh")
        // At a pace dkms sees (a burst that meets the kernel backstop, twice the limit, first
        // fails as the build itself fails: docs/sandbox.md).
        Files.write("for i in $(seq 100); do sleep 10 & sleep 0.02; done\nwait\n", to: source + "/forks.sh")
        _ = sandbox.dkms(["add", source])
        let r = sandbox.dkms(["build", "forks/1.0", "-k", Self.kernels[0]])
        #expect(r.status == 10)
        #expect(r.stderr.contains("ran more processes at once than its process limit (build_max_processes=20 processes)"), "\(r)")
    }

    /// docs/sandbox.md's defaults, exactly: two hours, 2048 processes, and
    /// half the machine's memory (MemTotal in /proc/meminfo), at least 2 GiB.
    @Test func aBadLimitIsAWarningAndTheDefault() throws {
        let sandbox = sandbox(kernels: [Self.kernels[0]])
        Files.write("build_max_memory=lots\nbuild_time_limit=soon\nbuild_max_processes=many\n", to: sandbox.etc + "/framework.conf")
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "plain", version: "1.0")])
        let r = sandbox.dkms(["build", "plain/1.0", "-k", Self.kernels[0]])
        #expect(r.status == 0)
        let meminfo = try #require(Files.read("/proc/meminfo"))
        let kibibytes = try #require(meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .flatMap { Int($0.split(separator: " ")[1]) })
        let half = max(2 << 30, kibibytes * 1024 / 2)
        let text = half % (1 << 30) == 0 ? "\(half >> 30)G" : half % (1 << 20) == 0 ? "\(half >> 20)M"
            : half % 1024 == 0 ? "\(half >> 10)K" : "\(half) bytes"
        #expect(r.stderr.contains("build_max_memory=\"lots\" in framework.conf is not a valid limit; the default build_max_memory=\(text) applies."), "\(r.stderr)")
        #expect(r.stderr.contains("build_time_limit=\"soon\" in framework.conf is not a valid limit; the default build_time_limit=7200 seconds applies."))
        #expect(r.stderr.contains("build_max_processes=\"many\" in framework.conf is not a valid limit; the default build_max_processes=2048 processes applies."))
    }

    @Test func withTheSandboxOffNoLimitApplies() {
        let sandbox = sandbox(kernels: [Self.kernels[0]])
        Files.write("build_sandbox=no\nbuild_time_limit=1\n", to: sandbox.etc + "/framework.conf")
        _ = sandbox.dkms(["add", writeModule(sandbox, name: "slowish", command: "sleep 3")])
        #expect(sandbox.dkms(["build", "slowish/1.0", "-k", Self.kernels[0]]).status == 0)
    }

    /// The processes whose command line contains `marker`.
    static func processes(containing marker: String) -> [Int32] {
        FileSystem.entries(of: "/proc").compactMap { name -> Int32? in
            guard let pid = Int32(name), pid != getpid(),
                  let bytes = FileSystem.readBytes("/proc/\(name)/cmdline"),
                  String(decoding: bytes.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(marker) else { return nil }
            return pid
        }
    }

    /// SIGKILL of the dkms process alone (not its group) in the middle of a
    /// build: within a second no process of the build is left.
    @Test func aBuildDiesWithDkms() throws {
        let sandbox = sandbox(kernels: [Self.kernels[0]])
        let marker = "sandbox-kill-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        let source = writeModule(sandbox, name: "stays", command: "sh ./stay.sh")
        Files.write("python3 -c 'import time; time.sleep(60)' \(marker)\n", to: source + "/stay.sh")
        _ = sandbox.dkms(["add", source])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: DKMSBinary.path)
        process.arguments = ["build", "stays/1.0", "-k", Self.kernels[0]] + sandbox.treeOptions
        process.environment = sandbox.environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var started = false
        for _ in 0..<300 where !started {
            started = !Self.processes(containing: marker).isEmpty
            if !started { usleep(100_000) }
        }
        try #require(started, "the build did not start")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        usleep(1_000_000)
        let left = Self.processes(containing: marker)
        #expect(left.isEmpty, "still running 1 s after dkms died: \(left)")
        for pid in left { kill(pid, SIGKILL) }
    }
}
