import DKMSTestSupport
import Foundation
import Synchronization
import Testing
@testable import DKMSCore

/// The sandbox's identity, watcher, limits and the take-over of a build's
/// results, in-process.
@Suite("Sandbox identity, watcher and limits")
struct SandboxIdentityTests {
    static let identity = BuildIdentity(name: "dkms-build", uid: 990, gid: 985)

    func sandbox(limits: BuildLimits = BuildLimits(timeSeconds: 60, maxProcesses: 100, maxMemory: 1 << 30)) -> BuildSandbox {
        var sandbox = BuildSandbox(bwrap: "/usr/bin/bwrap", unprivileged: false)
        sandbox.identity = Self.identity
        sandbox.setpriv = "/usr/bin/setpriv"
        sandbox.bash = "/bin/bash"
        sandbox.limits = limits
        return sandbox
    }

    @Test func asRootTheBuildSwitchesToTheIdentityInsideWithoutAUserNamespace() {
        let spec = sandbox().wrap(ProcessSpec("/bin/sh", ["-c", "make"], environment: [:]),
                                  buildDirectory: "/var/lib/dkms/m/1/build", backing: "/var/lib/dkms/m/1/.build_x", infoFile: "/tmp/info")
        #expect(spec.executable == "/bin/bash")
        let arguments = spec.arguments
        #expect(arguments[0] == "-c" && arguments[1] == SandboxWatcher.script)
        #expect(Array(arguments[2...5]) == ["dkms-sandbox", "/tmp/info", "200", String(2 * (1 << 20))])
        let bwrap = arguments.firstIndex(of: "/usr/bin/bwrap")
        let setpriv = arguments.firstIndex(of: "/usr/bin/setpriv")
        #expect(bwrap == 6)
        #expect(setpriv != nil && bwrap! < setpriv!)
        #expect(!arguments.contains("--unshare-user"))
        #expect(!arguments.contains("--cap-drop"), "setpriv needs root's capabilities inside to switch, then drops them all")
        #expect(!arguments.contains("--as-pid-1"), "bubblewrap's own first process is the one --die-with-parent applies to")
        let text = arguments.joined(separator: " ")
        #expect(text.contains("--new-session --die-with-parent --info-fd 4"))
        #expect(text.contains("/usr/bin/setpriv --reuid 990 --regid 985 --clear-groups --inh-caps=-all --ambient-caps=-all --bounding-set=-all --no-new-privs -- /bin/sh -c make"))
        #expect(spec.workingDirectory == nil)
    }

    @Test func withoutAnIdentityTheUserNamespaceStays() {
        var sandbox = BuildSandbox(bwrap: "bwrap")
        sandbox.bash = "/bin/bash"
        let spec = sandbox.wrap(ProcessSpec("/bin/true", environment: [:]), buildDirectory: "/b", backing: "/c", infoFile: "/i")
        #expect(spec.arguments.joined(separator: " ").contains("--unshare-user --uid 65534 --gid 65534 --cap-drop ALL"))
        #expect(!spec.arguments.contains("/usr/bin/setpriv"))
    }

    @Test func whereSystemdRunsEachStepGetsAScopeWithHardLimits() {
        var sandbox = sandbox(limits: BuildLimits(timeSeconds: 0, maxProcesses: 50, maxMemory: 256 << 20))
        sandbox.systemdRun = "/usr/bin/systemd-run"
        let spec = sandbox.wrap(ProcessSpec("/bin/true", environment: [:]), buildDirectory: "/b", backing: "/c", infoFile: "/i")
        #expect(spec.executable == "/usr/bin/systemd-run")
        #expect(Array(spec.arguments.prefix(10)) == ["--scope", "--quiet", "--collect", "-p", "TasksMax=108",
                                                     "-p", "MemoryMax=\(512 << 20)", "-p", "MemorySwapMax=0", "--"])
        #expect(spec.arguments[10] == "/bin/bash")
        #expect(SandboxWatcher.scopeArguments(limits: BuildLimits(timeSeconds: 0, maxProcesses: 0, maxMemory: 0)) == ["--scope", "--quiet", "--collect", "--"])
    }

    @Test func theWatcherHasNoBackstopForALimitThatIsOff() {
        let line = SandboxWatcher.commandLine(bash: "/bin/bash", infoFile: "/i", limits: BuildLimits(timeSeconds: 0, maxProcesses: 0, maxMemory: 0),
                                              command: ["bwrap"])
        #expect(Array(line[3...6]) == ["dkms-sandbox", "/i", "0", "0"])
    }

    @Test func theIdentityIsTheDedicatedUserElseNobodyNeverRoot() {
        let users: [String: (uid: UInt32, gid: UInt32)] = ["dkms-build": (990, 985), "nobody": (65534, 65534), "root": (0, 0), "wheel": (1000, 0)]
        #expect(BuildIdentity.resolve(user: "", lookUp: { users[$0] }) == BuildIdentity(name: "dkms-build", uid: 990, gid: 985))
        #expect(BuildIdentity.resolve(user: "", lookUp: { $0 == "dkms-build" ? nil : users[$0] }) == BuildIdentity(name: "nobody", uid: 65534, gid: 65534))
        #expect(BuildIdentity.resolve(user: "root", lookUp: { users[$0] }).uid == 65534)
        #expect(BuildIdentity.resolve(user: "wheel", lookUp: { users[$0] }).uid == 65534, "a root group is refused too")
        #expect(BuildIdentity.resolve(user: "", lookUp: { _ in nil }) == BuildIdentity.nobody)
    }

    @Test func limitsParse() {
        #expect(BuildLimits.parse("90", as: .time) == 90)
        #expect(BuildLimits.parse("30m", as: .time) == 1800)
        #expect(BuildLimits.parse("2h", as: .time) == 7200)
        #expect(BuildLimits.parse(" 0 ", as: .time) == 0)
        #expect(BuildLimits.parse("soon", as: .time) == nil)
        #expect(BuildLimits.parse("-5", as: .time) == nil)
        #expect(BuildLimits.parse("", as: .time) == nil)
        #expect(BuildLimits.parse("9999999999999999999h", as: .time) == nil)
        #expect(BuildLimits.parse("512", as: .processes) == 512)
        #expect(BuildLimits.parse("1k", as: .processes) == nil)
        #expect(BuildLimits.parse("512M", as: .memory) == 512 << 20)
        #expect(BuildLimits.parse("4G", as: .memory) == 4 << 30)
        #expect(BuildLimits.parse("50%", as: .memory, physicalMemory: 8 << 30) == 4 << 30)
        #expect(BuildLimits.parse("150%", as: .memory, physicalMemory: 8 << 30) == nil)
        #expect(BuildLimits.parse("lots", as: .memory) == nil)
        // Out of range: refused, so that no figure derived from a limit
        // (backstops at twice it, deadlines in nanoseconds) can overflow.
        #expect(BuildLimits.parse("9223372036854775807", as: .processes) == nil)
        #expect(BuildLimits.parse("4194304", as: .processes) == 4_194_304)
        #expect(BuildLimits.parse("4194305", as: .processes) == nil)
        #expect(BuildLimits.parse("99999999999999", as: .time) == nil)
        #expect(BuildLimits.parse("8760h", as: .time) == 31_536_000)
        #expect(BuildLimits.parse("8761h", as: .time) == nil)
        #expect(BuildLimits.parse("1024T", as: .memory) == 1 << 50)
        #expect(BuildLimits.parse("1025T", as: .memory) == nil)
        #expect(BuildLimits.parse("9999999999999999T", as: .memory) == nil)
        for kind in BuildLimits.Kind.allCases {
            var limits = BuildLimits()
            limits.timeSeconds = BuildLimits.Kind.time.maximum
            limits.maxProcesses = BuildLimits.Kind.processes.maximum
            limits.maxMemory = BuildLimits.Kind.memory.maximum
            _ = SandboxWatcher.commandLine(bash: "bash", infoFile: "i", limits: limits, command: ["true"])
            _ = SandboxWatcher.scopeArguments(limits: limits)
            #expect(!limits.describe(kind).isEmpty)
        }
    }

    @Test func theDefaultsAreGenerous() {
        let limits = BuildLimits()
        #expect(limits.timeSeconds == 7200)
        #expect(limits.maxProcesses == 2048)
        #expect(limits.maxMemory >= 2 << 30)
    }

    @Test func aLimitErrorNamesTheLimitTheModuleAndTheLog() {
        let limits = BuildLimits(timeSeconds: 600, maxProcesses: 64, maxMemory: 256 << 20)
        let target = BuildPlan.Target(module: "evil", version: "1.0", kernel: "6.1.0-1-amd64", arch: "x86_64")
        let error = limits.exceeded(.memory, target: target, log: "/var/lib/dkms/evil/1.0/build/make.log")
        #expect(error.status == 10)
        #expect(error.presentation == .error)
        #expect(error.lines == [
            "The build of evil/1.0 for kernel 6.1.0-1-amd64 (x86_64) used more memory than its memory limit (build_max_memory=256M) and was stopped.",
            "Raise build_max_memory in /etc/dkms/framework.conf if the module needs more.",
            "Consult /var/lib/dkms/evil/1.0/build/make.log for more information.",
        ])
        #expect(limits.exceeded(.time, target: target, log: "L").lines[0].contains("(build_time_limit=600 seconds)"))
        #expect(limits.exceeded(.processes, target: target, log: "L").lines[0].contains("(build_max_processes=64 processes)"))
    }

    @Test func bubblewrapsInfoGivesTheFirstProcess() {
        let directory = TemporaryDirectory()
        let info = directory.child("info")
        Files.write("{\n    \"child-pid\": 4242\n}\n", to: info)
        #expect(BuildMonitor.childPid(infoFile: info) == 4242)
        Files.write("", to: info)
        #expect(BuildMonitor.childPid(infoFile: info) == nil)
        #expect(BuildMonitor.pidNamespace(of: getpid()) != nil)
        let mine = BuildMonitor.usage(namespace: BuildMonitor.pidNamespace(of: getpid())!)
        #expect(mine.processes >= 1 && mine.memory > 0)
    }

    @Test func theMonitorStopsAtTheDeadlineAndCutsTheLifeline() async throws {
        let lifeline = try #require(Lifeline())
        let monitor = BuildMonitor(limits: BuildLimits(timeSeconds: 1, maxProcesses: 0, maxMemory: 0),
                                   deadline: BuildMonitor.monotonicNanoseconds() + 100_000_000, infoFile: "/nonexistent")
        #expect(await monitor.watch(lifeline) == .time)
        var byte: UInt8 = 0
        #expect(read(lifeline.readEnd, &byte, 1) == 0, "the watcher's end reads end of file")
    }

    @Test func takingBackRemovesLinksOutSpecialFilesAndSetuidBits() throws {
        try #require(geteuid() == 0, "needs root to change owners")
        let directory = TemporaryDirectory()
        let build = directory.child("build")
        Files.write("ko", to: build + "/sub/real.ko")
        Files.write("secret", to: directory.child("outside"))
        _ = FileSystem.symlink(target: "/etc/shadow", at: build + "/module.ko")
        _ = FileSystem.symlink(target: directory.child("outside"), at: build + "/relative-out.ko")
        _ = FileSystem.symlink(target: "sub/real.ko", at: build + "/inside.ko")
        _ = FileSystem.symlink(target: "/nonexistent", at: build + "/dangling")
        _ = FileSystem.symlink(target: "..", at: build + "/sub/up")
        Files.write("#!/bin/sh\n", to: build + "/rootsh")
        #expect(mkfifo(build + "/fifo", 0o600) == 0)
        Files.write("log", to: build + "/open.log")
        #expect(BuildHandOver.give(build, to: BuildIdentity.nobody))
        chmod(build + "/rootsh", 0o4755)
        // what the build user may leave open to every local user
        chmod(build + "/sub", 0o777)
        chmod(build + "/sub/real.ko", 0o666)
        chmod(build + "/open.log", 0o620)
        var st = stat()
        lstat(build + "/sub/real.ko", &st)
        #expect(st.st_uid == 65534 && st.st_gid == 65534)
        lstat(build + "/module.ko", &st)
        #expect(st.st_uid == 65534, "the link itself, not /etc/shadow")
        stat("/etc/shadow", &st)
        #expect(st.st_uid == 0)

        let report = BuildHandOver.takeBack(build)
        #expect(Set(report.removed) == ["module.ko", "relative-out.ko", "dangling", "fifo"])
        #expect(FileSystem.isSymlink(build + "/sub/up"), "a link to the directory itself stays in it")
        #expect(report.clearedModes == ["rootsh"])
        #expect(!FileSystem.existsNoFollow(build + "/module.ko"))
        #expect(FileSystem.isSymlink(build + "/inside.ko"))
        #expect(FileSystem.mode(of: build + "/rootsh") == 0o755)
        for path in [build, build + "/sub", build + "/sub/real.ko", build + "/rootsh"] {
            lstat(path, &st)
            #expect(st.st_uid == 0 && st.st_gid == 0, "\(path)")
        }
        #expect(FileSystem.mode(of: build + "/sub") == 0o755, "no longer writable by all")
        #expect(FileSystem.mode(of: build + "/sub/real.ko") == 0o644)
        #expect(FileSystem.mode(of: build + "/open.log") == 0o600)
    }

    @Test func theBuilderHandsTheDirectoryOverForTheStepsAndTakesItBack() async throws {
        try #require(geteuid() == 0, "needs root to change owners")
        let directory = TemporaryDirectory()
        let source = directory.child("source")
        Files.write("obj-m := hello.o\n", to: source + "/Makefile")
        var plan = BuildPlanner.plan(BuildPlanTests.inputs())
        plan.sourceDirectory = source
        plan.buildDirectory = directory.child("build")
        plan.modules = [BuildPlan.CollectedModule(builtStem: "hello", destName: "hello", strip: true)]
        let backing = directory.child(".build_x")
        let ownerDuringTheStep = Synchronization.Mutex<UInt32?>(nil)
        let runner = ScriptedProcessRunner { spec in
            var st = stat()
            lstat(backing, &st)
            ownerDuringTheStep.withLock { $0 = st.st_uid }
            // The "build" makes its module a link to a root-only file.
            _ = FileSystem.symlink(target: "/etc/shadow", at: backing + "/hello.ko")
            return ProcessOutcome(status: 0)
        }
        let builder = Builder(plan: plan, directory: backing, sandbox: sandbox(), runner: runner,
                              presenter: CommandPresenter(console: RecordingConsole(), verbose: false, progressDots: false), programName: "dkms")
        await builder.prepareDirectory()
        do {
            try await builder.compile()
            Issue.record("a module that is a link out of the directory is no module")
        } catch {
            #expect(error.status == 7)
        }
        #expect(ownerDuringTheStep.withLock { $0 } == Self.identity.uid)
        var st = stat()
        lstat(backing, &st)
        #expect(st.st_uid == 0)
        #expect(!FileSystem.existsNoFollow(backing + "/hello.ko"))
        #expect(runner.specs.count == 1)
        #expect(runner.specs[0].input != .none, "the step's input is its lifeline")
    }
}
