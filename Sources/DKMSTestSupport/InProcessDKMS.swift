import DKMSCore
import Synchronization

/// A whole dkms command run in-process: the engine over an
/// ``InMemoryFileSystem`` and a ``ScriptedProcessRunner``, with a
/// ``RecordingConsole``. Nothing is spawned and nothing on disk changes:
/// the three trees live under a root that does not exist on disk (the tree
/// lock, which opens `$dkms_tree/.lock` with open(2), then finds no tree
/// and is not taken). One exception remains in the engine: the failure
/// records of a failed autoinstall or kernel hook build are written through
/// `FailureRecords(dkmsTree:)` on the real disk, so tests must not let such a
/// build fail (ActionsInProcessTests checks the root stays absent).
///
/// The file system starts with the source of `hello/1.0` (a plain
/// dkms.conf: one module, `hello.ko`, installed into `/updates/dkms`,
/// AUTOINSTALL=yes) and the headers of one kernel. The runner answers
/// every process with success and no output, except: ShellSourcer's bash
/// program reads plain files from the fake file system, `cp` copies within
/// it, `make` (run directly or through bash) leaves `hello.ko` in the build
/// directory (`M=`), as a real build would, and ``answer(_:with:)``
/// overrides any program.
package final class InProcessDKMS: Sendable {
    /// The module, its version, the kernel and the arch of the fixture.
    package static let module = "hello"
    package static let version = "1.0"
    package static let kernel = "6.1.0-inprocess-amd64"
    package static let arch = "x86_64"
    /// What the fake `make` leaves as `hello.ko`.
    package static let moduleBytes: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00, 0x68, 0x65, 0x6C, 0x6C, 0x6F]

    /// The root every tree lives under: a directory that does not exist on disk.
    package let root: String
    /// The fake file system.
    package let files = InMemoryFileSystem()
    /// The fake process runner (every process of every command run).
    package let runner: ScriptedProcessRunner
    /// Answers for programs by name (the executable's last component),
    /// consulted before the default answers; set before ``run(_:)``.
    private let overrides = Answers()

    /// The overriding answers, shared with the runner's closure.
    private final class Answers: Sendable {
        let table = Mutex<[String: @Sendable (ProcessSpec) -> ProcessOutcome]>([:])
    }

    /// `dkms_tree`, `source_tree`, `install_tree` under ``root``.
    package var dkmsTree: String { root + "/var/lib/dkms" }
    package var sourceTree: String { root + "/usr/src" }
    package var installTree: String { root + "/lib/modules" }
    /// The source directory of `hello/1.0`.
    package var sourceDirectory: String { sourceTree + "/hello-1.0" }
    /// The headers of ``kernel``.
    package var headers: String { installTree + "/" + Self.kernel + "/build" }
    /// `$dkms_tree/hello/1.0/K/A`.
    package var builtDirectory: String { "\(dkmsTree)/hello/1.0/\(Self.kernel)/\(Self.arch)" }
    /// Where `hello.ko` is installed.
    package var installedModule: String { "\(installTree)/\(Self.kernel)/updates/dkms/hello.ko" }

    /// The plain dkms.conf of the fixture.
    package static let dkmsConf = """
        PACKAGE_NAME="hello"
        PACKAGE_VERSION="1.0"
        BUILT_MODULE_NAME[0]="hello"
        DEST_MODULE_LOCATION[0]="/updates/dkms"
        AUTOINSTALL="yes"

        """

    /// The result of one command.
    package struct Outcome: Sendable {
        /// The exit status the CLI would exit with.
        package var status: Int32
        /// What the engine returned (nil when it threw).
        package var result: RunResult?
        /// The error the engine threw, if any.
        package var error: DKMSError?
        /// Standard output and standard error (an error's message included,
        /// as the CLI reports it).
        package var standardOutput: String
        package var standardError: String
        /// The processes this command asked for, one line each.
        package var commandLines: [String]
    }

    /// A fresh fixture.
    package init() {
        root = "/nonexistent-dkms-test-" + String(UInt64.random(in: 1...UInt64.max), radix: 16)
        let files = self.files
        let overrides = self.overrides
        runner = ScriptedProcessRunner { spec in
            let name = spec.executable.split(separator: "/").last.map(String.init) ?? spec.executable
            if let answer = overrides.table.withLock({ $0[name] }) { return answer(spec) }
            if let sourced = InProcessDKMS.sourcePlainFiles(spec, files: files) { return sourced }
            let isMake = name == "make"
                || (name == "bash" && spec.arguments.count > 1 && spec.arguments[1].contains("make"))
            if name == "cp" {
                InProcessDKMS.copy(spec.arguments, files: files)
                return ProcessOutcome(status: 0)
            }
            // kbuild leaves the module in M= (or, run through bash, in the working directory).
            let directory = spec.arguments.last { $0.hasPrefix("M=") }.map { String($0.dropFirst(2)) } ?? spec.workingDirectory
            if isMake, let directory {
                files.create(bytes: InProcessDKMS.moduleBytes, at: directory + "/hello.ko")
            }
            return ProcessOutcome(status: 0)
        }
        files.create(Self.dkmsConf, at: sourceDirectory + "/dkms.conf")
        files.create("obj-m := hello.o\n", at: sourceDirectory + "/Makefile")
        files.create("int init_module(void) { return 0; }\n", at: sourceDirectory + "/hello.c")
        files.create("# headers stub\n", at: headers + "/Makefile")
        files.create("CONFIG_MODULES=y\n", at: headers + "/.config")
        files.create("CONFIG_MODULES=y\n", at: headers + "/include/config/auto.conf")
        files.create("", at: headers + "/Module.symvers")
        files.create("", at: installTree + "/" + Self.kernel + "/modules.dep")
        files.makeDirectories(dkmsTree)
        files.makeDirectories(root + "/tmp")
    }

    /// `cp [-options] SOURCE... DESTINATION` within the fake file system:
    /// into DESTINATION when it is a directory (unless `-T`), else as it.
    static func copy(_ arguments: [String], files: InMemoryFileSystem) {
        let options = arguments.filter { $0.hasPrefix("-") }
        let paths = arguments.filter { !$0.hasPrefix("-") }
        guard let destination = paths.last, paths.count >= 2 else { return }
        let noTargetDirectory = options.contains { !$0.hasPrefix("--") && $0.contains("T") }
        for source in paths.dropLast() {
            var trimmed = source
            while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
            if trimmed.hasSuffix("/.") { trimmed.removeLast(2) }
            let name = trimmed.split(separator: "/").last.map(String.init) ?? trimmed
            let into = !noTargetDirectory && files.isDirectory(destination) && !source.hasSuffix("/.")
            let target = into ? (destination.hasSuffix("/") ? destination : destination + "/") + name : destination
            files.copyTree(from: files.canonicalPath(trimmed) ?? trimmed, to: target)
        }
    }

    /// Answers ``ShellSourcer``'s bash program (dkms.conf, framework.conf,
    /// /etc/dkms/MODULE.conf) for plain files as bash would, reading them
    /// from the fake file system: the engine evaluates dkms.conf through a
    /// ``ShellSourcer`` that reads the real disk, so its plain path finds no
    /// file and it starts bash. Nil for any other process.
    static func sourcePlainFiles(_ spec: ProcessSpec, files: InMemoryFileSystem) -> ProcessOutcome? {
        guard spec.executable.hasSuffix("bash"), spec.arguments.count >= 3, spec.arguments[0] == "-c",
              let namesLine = spec.arguments[1].split(separator: "\n").first(where: { $0.hasPrefix("__dkms_names='") })
        else { return nil }
        let names = namesLine.dropFirst("__dkms_names='".count).dropLast().split(separator: " ").map(String.init)
        var values: [String: [Int: String]] = [:]
        for file in spec.arguments.dropFirst(3) {
            guard let text = files.readText(file), let assignments = PlainAssignments.parse(text) else { continue }
            for assignment in assignments where names.contains(assignment.name) {
                values[assignment.name, default: [:]][assignment.index] = PlainAssignments.readBack(assignment.value)
            }
        }
        var output: [UInt8] = []
        for name in names {
            for (index, value) in (values[name] ?? [:]).sorted(by: { $0.key < $1.key }) {
                output += Array(name.utf8) + [0] + Array(String(index).utf8) + [0] + Array(value.utf8) + [0]
            }
        }
        return ProcessOutcome(status: 0, standardOutput: output)
    }

    /// Lays out `hello/1.0` built for the fixture's kernel as a build
    /// publishes it (`m/v/K/A/module/hello.ko` and `log/make.log`), for the
    /// actions that start from a built module: the engine's own build
    /// cannot run over the fake file system yet (see the build test).
    package func seedBuilt() {
        files.create(bytes: Self.moduleBytes, at: builtDirectory + "/module/hello.ko")
        files.create("DKMS make.log for hello/1.0\n", at: builtDirectory + "/log/make.log")
    }

    /// Lays out `hello/1.0` installed into the fixture's kernel as an
    /// install leaves it: built (``seedBuilt()``), the module copied to
    /// `updates/dkms` and the active link `kernel-K-A -> 1.0/K/A`.
    package func seedInstalled() {
        seedBuilt()
        files.create(bytes: Self.moduleBytes, at: installedModule)
        files.symlink(target: "1.0/\(Self.kernel)/\(Self.arch)", at: "\(dkmsTree)/hello/kernel-\(Self.kernel)-\(Self.arch)")
    }

    /// Makes `program` (by name) answer with `answer` from now on.
    package func answer(_ program: String, with answer: @escaping @Sendable (ProcessSpec) -> ProcessOutcome) {
        overrides.table.withLock { $0[program] = answer }
    }

    /// The settings of `arguments` as the CLI would make them (a small
    /// subset of its grammar: the action, `-m`, `-v`, `-k`, `-a`, `m/v`,
    /// `--archive`, flags, and the words of `cache`), on top of what
    /// ``Bootstrap`` would detect on a Debian x86_64 host with
    /// `build_sandbox=no` and `build_cache=no`.
    package func settings(_ arguments: [String]) -> Settings {
        var settings = Settings()
        settings.dkmsTree = dkmsTree
        settings.sourceTree = sourceTree
        settings.installTree = installTree
        settings.tmpLocation = root + "/tmp"
        settings.distribution = "debian12"
        settings.runningKernel = Self.kernel
        settings.machine = Self.arch
        settings.buildSandbox = false
        settings.buildCache = false
        settings.parallelJobs = "1"
        settings.environment = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "SWIFT_DKMS_SYSCONFDIR": root + "/etc/dkms",
        ]
        var index = 0
        func next() -> String {
            index += 1
            return index < arguments.count ? arguments[index] : ""
        }
        while index < arguments.count {
            let word = arguments[index]
            switch word {
            case "-m", "--module":
                let value = next()
                if let slash = value.firstIndex(of: "/") {
                    settings.module = String(value[..<slash])
                    settings.moduleVersion = String(value[value.index(after: slash)...])
                } else {
                    settings.module = value
                }
            case "-v": settings.moduleVersion = next()
            case "-k":
                let value = next()
                if let slash = value.firstIndex(of: "/") {
                    settings.kernels.append(String(value[..<slash]))
                    settings.arches.append(String(value[value.index(after: slash)...]))
                } else {
                    settings.kernels.append(value)
                }
            case "-a": settings.arches.append(next())
            case "--templatekernel": settings.templateKernel = next()
            case "--archive": settings.archive = next()
            case "--force": settings.force = true
            case "--all": settings.all = true
            case "--no-depmod": settings.noDepmod = true
            case "--dry-run": settings.dryRun = true
            case "--json": settings.jsonOutput = true
            case "--binaries-only": settings.binariesOnly = true
            case "--source-only": settings.sourceOnly = true
            default:
                if settings.action == nil, let action = Action(rawValue: word) {
                    settings.action = action
                } else if settings.action == .cache {
                    settings.actionArguments.append(word)
                } else if let slash = word.firstIndex(of: "/"), settings.module.isEmpty, !word.hasPrefix("/") {
                    settings.module = String(word[..<slash])
                    settings.moduleVersion = String(word[word.index(after: slash)...])
                } else if word.hasSuffix(".tar.gz") || word.hasSuffix(".tar") {
                    settings.archive = word
                } else {
                    settings.sourceTreeArgument = word
                }
            }
            index += 1
        }
        return settings
    }

    /// Runs one dkms command in-process, as `dkms ARGUMENTS` would.
    @discardableResult
    package func run(_ arguments: String...) async -> Outcome {
        await run(settings: settings(arguments))
    }

    /// Runs one command with the given settings.
    package func run(settings: Settings) async -> Outcome {
        let console = RecordingConsole()
        let before = runner.specs.count
        let engine = Engine(settings: settings, console: console, runner: runner, fileSystem: files)
        var outcome = Outcome(status: 0, result: nil, error: nil, standardOutput: "", standardError: "", commandLines: [])
        do {
            let result = try await engine.run()
            outcome.result = result
            switch result {
            case .exit(let status): outcome.status = status
            case .statusEntries, .unknownAction: outcome.status = 0
            }
        } catch {
            if let diagnostic = error.diagnostic { console.report(diagnostic) }
            outcome.error = error
            outcome.status = error.status
        }
        outcome.standardOutput = console.standardOutput
        outcome.standardError = console.standardError
        outcome.commandLines = Array(runner.commandLines.dropFirst(before))
        return outcome
    }
}
