import DKMSTestSupport
import Foundation
import Testing
@testable import DKMSCore

/// The build plan, its planner, the sandbox, the builder and the
/// autoinstall scheduler, constructed directly.
@Suite("Build plans")
struct BuildPlanTests {
    static let target = BuildPlan.Target(module: "hello", version: "1.0", kernel: "6.1.0-1-amd64", arch: "x86_64")

    static func config(make: String = "make -C /lib/modules/6.1.0-1-amd64/build M=/var/lib/dkms/hello/1.0/build",
                       extra: [String: ShellArray] = [:]) -> ModuleConfig {
        var variables = ShellVariables([
            "PACKAGE_NAME": ShellArray(scalar: "hello"), "PACKAGE_VERSION": ShellArray(scalar: "1.0"),
            "BUILT_MODULE_NAME": ShellArray([0: "hello", 1: "world"]), "DEST_MODULE_LOCATION": ShellArray([0: "/extra", 1: "/extra"]),
            "MAKE": ShellArray(scalar: make), "STRIP": ShellArray([1: "no"]),
        ])
        for (name, value) in extra { variables[name] = value }
        let context = ModuleConfig.Context(
            kernel: target.kernel, arch: target.arch, module: "hello", moduleVersion: "1.0", dkmsTree: "/var/lib/dkms",
            kernelSourceDir: "/lib/modules/6.1.0-1-amd64/build", kernelConfigPath: "/nonexistent/.config",
            destination: DestinationPolicy(distribution: "debian", addonModulesDirectory: ""), kernelUsesClang: false)
        return ModuleConfig.interpret(variables, context: context).config
    }

    static func inputs(config: ModuleConfig = config(), environment: [String: String] = ["PATH": "/usr/bin:/bin"],
                       suffix: String = "") -> BuildPlanner.Inputs {
        BuildPlanner.Inputs(
            target: target, config: config, sourceDirectory: "/var/lib/dkms/hello/1.0/source",
            buildDirectory: "/var/lib/dkms/hello/1.0/build", overrideDirectory: "/etc/dkms/hello", patchOverlay: nil,
            shellVariables: [ShellVariable("kernelver", target.kernel), ShellVariable("dkms_tree", "/var/lib/dkms")],
            environment: environment, parallelJobs: "4", sign: true, compressedSuffix: suffix,
            compressOptions: ("", "--check=crc32", "-q"))
    }

    @Test func thePlanHoldsWhatDecidesTheBuild() {
        let plan = BuildPlanner.plan(Self.inputs(suffix: ".xz"))
        #expect(plan.makeCommand == "make -j4 KERNELRELEASE=6.1.0-1-amd64 -C /lib/modules/6.1.0-1-amd64/build M=/var/lib/dkms/hello/1.0/build")
        #expect(plan.modules.map(\.destName) == ["hello", "world"])
        #expect(plan.modules.map(\.strip) == [true, false])
        #expect(plan.stripTool == "strip")
        #expect(plan.compression == BuildPlan.Compression(suffix: ".xz", tool: "xz", options: ["--check=crc32"]))
        #expect(plan.logPath == "/var/lib/dkms/hello/1.0/build/make.log")
    }

    @Test func equalPlansAreEqualBuilds() throws {
        let one = BuildPlanner.plan(Self.inputs())
        #expect(one == BuildPlanner.plan(Self.inputs()))
        #expect(one != BuildPlanner.plan(Self.inputs(config: Self.config(make: "make -C elsewhere"))))
        #expect(one != BuildPlanner.plan(Self.inputs(environment: ["PATH": "/usr/bin:/bin", "CC": "clang"])))
        #expect(BuildPlanner.plan(Self.inputs(environment: ["CC": "clang"])).stripTool == "llvm-strip")
        let data = try JSONEncoder().encode(one)
        #expect(try JSONDecoder().decode(BuildPlan.self, from: data) == one)
    }

    @Test func makeIsRewrittenOnlyWhenItStartsWithMake() {
        #expect(BuildPlanner.rewriteMake("make all", jobs: "", kernel: "K") == "make -j KERNELRELEASE=K all")
        #expect(BuildPlanner.rewriteMake("./build.sh", jobs: "2", kernel: "K") == "./build.sh")
    }

    @Test func theSandboxBindsTheBuildAtItsCanonicalPath() {
        let sandbox = BuildSandbox(bwrap: "/usr/bin/bwrap", hiddenFiles: ["/etc/hostname"])
        let arguments = sandbox.arguments(buildDirectory: "/var/lib/dkms/m/1/build", backing: "/var/lib/dkms/m/1/.build_K_A_x",
                                          workingDirectory: nil)
        let text = arguments.joined(separator: " ")
        #expect(text.hasPrefix("--ro-bind / / "))
        let size = "--size \(2 * sandbox.limits.maxMemory)"
        #expect(text.contains("--perms 1777 \(size) --tmpfs /tmp "), "a private /tmp the build user can write, as large as the memory backstop")
        #expect(text.contains("--perms 1777 \(size) --tmpfs /var/tmp "))
        var unlimited = sandbox
        unlimited.limits.maxMemory = 0
        #expect(unlimited.arguments(buildDirectory: "/b", backing: "/c", workingDirectory: nil).joined(separator: " ")
            .contains("--perms 1777 --tmpfs /tmp "), "build_max_memory=0: no size")
        #expect(text.contains("--bind /var/lib/dkms/m/1/.build_K_A_x /var/lib/dkms/m/1/build"))
        #expect(text.contains("--ro-bind /dev/null /etc/hostname"))
        #expect(text.contains("--unshare-net"))
        #expect(text.contains("--unshare-pid"))
        #expect(text.contains("--new-session --die-with-parent --info-fd 4"))
        #expect(text.contains("--unshare-user --uid 65534 --gid 65534 --cap-drop ALL"))
        #expect(arguments.suffix(3) == ["--chdir", "/var/lib/dkms/m/1/build", "--"])
        #expect(!BuildSandbox(bwrap: "bwrap", unprivileged: false)
            .arguments(buildDirectory: "/b", backing: "/c", workingDirectory: nil).contains("--unshare-user"))
    }

    @Test func theSandboxHidesTheHostsRunOnceWhetherVarRunIsALinkOrNot() {
        let sandbox = BuildSandbox(bwrap: "bwrap", unprivileged: false)
        let linked = InMemoryFileSystem()
        _ = linked.makeDirectories("/root")
        _ = linked.makeDirectories("/run/dbus")
        _ = linked.makeDirectories("/var")
        _ = linked.symlink(target: "/run", at: "/var/run")
        let arguments = sandbox.arguments(buildDirectory: "/b", backing: "/c", workingDirectory: nil, fileSystem: linked)
        let text = arguments.joined(separator: " ")
        #expect(text.contains("--tmpfs /root --tmpfs /run "), "the host's sockets (D-Bus, journald, resolved) are out of reach")
        #expect(!text.contains("--tmpfs /var/run"), "/var/run leads to the empty /run")
        let separate = InMemoryFileSystem()
        _ = separate.makeDirectories("/run")
        _ = separate.makeDirectories("/var/run")
        #expect(sandbox.arguments(buildDirectory: "/b", backing: "/c", workingDirectory: nil, fileSystem: separate)
            .joined(separator: " ").contains("--tmpfs /run --tmpfs /var/run "))
        // A tree kept under /run comes back read-only, with its parents.
        var tree = sandbox
        _ = linked.makeDirectories("/run/trees/d")
        tree.readOnlyDirectories = ["/var/run/trees/d"]
        let bound = tree.arguments(buildDirectory: "/b", backing: "/c", workingDirectory: nil, fileSystem: linked).joined(separator: " ")
        #expect(bound.contains("--dir /run/trees --ro-bind /run/trees/d /run/trees/d"))
    }

    @Test func treesUnderTheHiddenTemporaryDirectoryComeBackReadOnly() {
        let directory = TemporaryDirectory()
        let tree = directory.child("d")
        let inner = directory.child("d/m")
        _ = FileSystem.makeDirectories(inner)
        let sandbox = BuildSandbox(bwrap: "bwrap", readOnlyDirectories: [inner, tree, "/usr/src"])
        let arguments = sandbox.arguments(buildDirectory: "/b", backing: "/c", workingDirectory: nil)
        let resolved = FileSystem.canonicalPath(tree) ?? tree
        #expect(arguments.joined(separator: " ").contains("--ro-bind \(resolved) \(resolved)"))
        #expect(!arguments.contains(FileSystem.canonicalPath(inner) ?? inner))
        #expect(!arguments.contains("/usr/src"))
    }

    @Test func theBuilderRunsEveryStepInTheSandbox() async throws {
        let directory = TemporaryDirectory()
        let source = directory.child("source")
        Files.write("obj-m := hello.o\n", to: source + "/Makefile")
        Files.write("PACKAGE_NAME=hello\n", to: source + "/dkms.conf")
        var plan = BuildPlanner.plan(Self.inputs())
        plan.sourceDirectory = source
        plan.buildDirectory = directory.child("build")
        plan.patches = ["fix.patch"]
        plan.modules = [BuildPlan.CollectedModule(builtStem: "hello", destName: "hello", strip: true)]
        let backing = directory.child(".build_x")
        Files.write("--- a\n+++ b\n", to: source + "/patches/fix.patch")
        let runner = ScriptedProcessRunner { spec in
            // make "produces" the module.
            if spec.arguments.contains("KERNELRELEASE=6.1.0-1-amd64") { Files.write("ko", to: backing + "/hello.ko") }
            return ProcessOutcome(status: 0)
        }
        let console = RecordingConsole()
        let builder = Builder(plan: plan, directory: backing, sandbox: BuildSandbox(bwrap: "/usr/bin/bwrap"), runner: runner,
                              presenter: CommandPresenter(console: console, verbose: false, progressDots: false), programName: "dkms")
        await builder.prepareDirectory()
        #expect(FileSystem.isRegularFile(backing + "/Makefile"))
        #expect(!FileSystem.exists(plan.buildDirectory + "/Makefile"))
        try await builder.compile()
        #expect(console.standardOutput == "Applying patch fix.patch... done.\nBuilding module(s)... done.\n")
        #expect(runner.specs.count == 2)
        for spec in runner.specs {
            #expect(spec.executable == Shell.bash)
            #expect(spec.arguments.contains("/usr/bin/bwrap"))
            #expect(spec.arguments.joined(separator: " ").contains("--bind \(backing) \(plan.buildDirectory)"))
        }
        let log = Files.read(backing + "/make.log") ?? ""
        #expect(log.contains("# command: patch -p1 < ./patches/fix.patch"))
        #expect(log.contains("# command: \(plan.makeCommand)"))
    }

    @Test func aMissingModuleFailsTheBuildWithStatus7() async {
        let directory = TemporaryDirectory()
        var plan = BuildPlanner.plan(Self.inputs())
        plan.sourceDirectory = directory.child("source")
        Files.write("x", to: plan.sourceDirectory + "/Makefile")
        plan.buildDirectory = directory.child("build")
        let builder = Builder(plan: plan, directory: plan.buildDirectory, sandbox: nil, runner: ScriptedProcessRunner(),
                              presenter: CommandPresenter(console: RecordingConsole(), verbose: false, progressDots: false),
                              programName: "dkms")
        await builder.prepareDirectory()
        do {
            try await builder.compile()
            Issue.record("the build should have failed")
        } catch {
            #expect(error.code == .moduleNotBuilt)
            #expect(error.diagnostic?.lines.first == "Build of hello.ko failed for: 6.1.0-1-amd64 (x86_64)")
        }
    }

    @Test func aFailedStepShowsItsStatusAndCommand() async {
        let console = RecordingConsole()
        let presenter = CommandPresenter(console: console, verbose: false, progressDots: false)
        let status = await presenter.invoke("false --flag", description: "Doing it", log: nil, background: true) { _ in 3 }
        #expect(status == 3)
        #expect(console.standardOutput == "Doing it...(bad exit status: 3)\nFailed command:\nfalse --flag\n")
    }

    @Test func scriptsInEtcOverrideTheModules() {
        let directory = TemporaryDirectory()
        Files.write("#!/bin/sh\n", to: directory.child("etc/pre.sh"))
        _ = FileSystem.setMode(0o755, of: directory.child("etc/pre.sh"))
        let resolved = ScriptResolution.resolve("pre.sh --x", in: "/build", overrideDirectory: directory.child("etc"))
        #expect(resolved?.loggedCommand == "cd \(directory.child("etc"))/ && \(directory.child("etc"))/pre.sh --x")
        #expect(ScriptResolution.resolve("missing.sh", in: "/build", overrideDirectory: directory.child("etc")) == nil)
    }
}

@Suite("Autoinstall scheduler")
struct AutoinstallSchedulerTests {
    func candidate(_ module: String, _ dependencies: String...) -> AutoinstallCandidate {
        AutoinstallCandidate(module: module, version: "1.0", dependencies: dependencies)
    }

    @Test func wavesFollowBuildDepends() {
        let queue = [candidate("c", "b"), candidate("a"), candidate("b", "a"), candidate("d", "x"), candidate("e", "installed")]
        let (waves, unresolved) = AutoinstallScheduler.waves(queue, satisfied: ["installed"])
        #expect(waves.map { $0.map(\.module) } == [["a", "e"], ["b"], ["c"]])
        #expect(unresolved.map(\.module) == ["d"])
    }

    @Test func theNextWaveKeepsQueueOrder() {
        let (ready, waiting) = AutoinstallScheduler.nextWave([candidate("z"), candidate("y", "z"), candidate("x")], satisfied: [])
        #expect(ready.map(\.module) == ["z", "x"])
        #expect(waiting.map(\.module) == ["y"])
    }

    @Test func newestVersionsSkipBrokenOnes() {
        let records: [ModuleStatusRecord] = [
            .added(module: "a", version: "1.0"), .built(module: "a", version: "1.10", kernel: "k", arch: "x", state: .built),
            .broken(module: "b", version: "2"), .added(module: "c", version: "0.9"), .added(module: "a", version: "1.9"),
        ]
        let (versions, broken) = AutoinstallScheduler.newestVersions(records)
        #expect(versions.map { "\($0.module)/\($0.version)" } == ["a/1.10", "c/0.9"])
        #expect(broken.map(\.module) == ["b"])
    }
}
