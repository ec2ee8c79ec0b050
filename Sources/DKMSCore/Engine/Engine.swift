/// Runs dkms actions. All behaviour lives here and in its extensions;
/// output goes to the ``Console``, processes through ``ProcessRunning``,
/// and failures are thrown as ``DKMSError`` exactly where upstream dies.
package final class Engine {
    /// The settings of this invocation.
    package internal(set) var settings: Settings
    var console: any Console
    let runner: any ProcessRunning
    /// The file system the trees are changed through.
    let fileSystem: any FileSystemAccess
    /// The shell scope this engine works in.
    var scope: ShellScope
    /// The command's change to the trees: the lock (held until the engine
    /// goes away, that is the process ends), its baselines, depmod's timing.
    let transaction = Transaction()
    /// What the command learns about its kernels (headers, configuration,
    /// identities), each read once.
    lazy var kernels = KernelFacts(KernelFacts.Inputs(settings), fileSystem: fileSystem, runner: runner)
    /// The names in /etc/dkms, listed once (override files are looked up
    /// for every conf read).
    lazy var etcEntries: Set<String> = Set(fileSystem.entries(of: etcDirectory))
    /// The tree view (it remembers whether the root is canonical).
    var cachedTree: DKMSTree?
    /// The build sandbox found on the first build (nil inside: none).
    var sandboxProbe: BuildSandbox??
    /// What /etc/dkms/MODULE.conf lets each module do (sandbox, cache).
    lazy var adminPolicy = AdminPolicy(etcDirectory: etcDirectory, etcEntries: etcEntries, fileSystem: fileSystem, runner: runner)
    /// dkms.conf evaluations of this command by their inputs, with what
    /// each printed (``evaluateConf(_:quiet:)``). Not scoped by subshells.
    var confEvaluations = ConfEvaluations()
    /// The time each shared cache location has taken in this command, and
    /// those that failed (made on the first lookup). Not scoped by subshells.
    var sharedCacheLedger: SharedCacheLedger?
    /// The kernels were chosen from this root because the running kernel
    /// has no headers here (``defaultKernels()``): autoinstall then runs
    /// once per kernel.
    var kernelsChosenForRoot = false
    /// The line announcing those kernels, until it is said.
    var kernelChoiceNote: String?
    /// The module names in each kernel's initramfs, listed once.
    let initramfsListings = InitramfsRegenerator.Listings()

    /// Creates an engine.
    package init(settings: Settings, console: any Console, runner: any ProcessRunning,
                 fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.settings = settings
        self.console = console
        self.runner = runner
        self.fileSystem = fileSystem
        scope = ShellScope(settings: settings)
    }

    // MARK: Tree paths

    var dkmsTree: String { settings.dkmsTree }
    var installTree: String { settings.installTree }
    var sourceTree: String { settings.sourceTree }

    /// `/etc/dkms` (or the test override).
    var etcDirectory: String { FrameworkFiles.directory(settings.environment) }

    // MARK: Subshells

    /// Runs `body` as upstream runs code in `( … )`: state and settings
    /// changes are discarded afterwards, and a thrown ``DKMSError`` is rendered and
    /// becomes the returned status instead of ending dkms.
    func subshell(_ body: () async throws(DKMSError) -> Int32) async -> Int32 {
        let saved = scope
        defer { scope = saved }
        do {
            return try await body()
        } catch {
            if let diagnostic = error.diagnostic { console.report(diagnostic) }
            return error.status
        }
    }

    // MARK: Shell variables

    /// The shell variables upstream has defined when it evaluates a
    /// command string or sources a configuration file.
    func shellGlobals(kernel: String, arch: String, module: String, version: String) -> [(name: String, value: ShellArray)] {
        let source = kernels.sourceDirectory(for: kernel)
        var globals: [(name: String, value: ShellArray)] = [
            ("kernelver", ShellArray(scalar: kernel)),
            ("arch", ShellArray(scalar: arch)),
            ("module", ShellArray(scalar: module)),
            ("module_version", ShellArray(scalar: version)),
            ("kernel_source_dir", ShellArray(scalar: source)),
            ("kernel_config", ShellArray(scalar: kernels.configPath(sourceDirectory: source))),
            ("dkms_tree", ShellArray(scalar: dkmsTree)),
            ("source_tree", ShellArray(scalar: sourceTree)),
            ("install_tree", ShellArray(scalar: installTree)),
            ("tmp_location", ShellArray(scalar: settings.tmpLocation)),
            ("running_distribution", ShellArray(scalar: settings.distribution)),
            ("current_kernel", ShellArray(scalar: settings.runningKernel)),
            ("current_os", ShellArray(scalar: "Linux")),
            ("parallel_jobs", ShellArray(scalar: settings.parallelJobs)),
            ("verbose", ShellArray(scalar: settings.verbose ? "true" : "")),
            ("force", ShellArray(scalar: scope.force ? "true" : "")),
            ("package_name", ShellArray(scalar: scope.packageName)),
        ]
        if !settings.conf.isEmpty { globals.append(("conf", ShellArray(scalar: settings.conf))) }
        return globals
    }

    /// The environment children get.
    var childEnvironment: [String: String] { scope.environment }

    /// The shell variables of ``shellGlobals(kernel:arch:module:version:)`` as values.
    func shellVariables(kernel: String, arch: String, module: String, version: String) -> [ShellVariable] {
        shellGlobals(kernel: kernel, arch: arch, module: module, version: version).map { ShellVariable($0.name, $0.value.value) }
    }

    /// Runs a command string as upstream's `eval` would (see ``ShellCommand``).
    func evaluate(
        _ command: String, kernel: String, arch: String, module: String, version: String,
        workingDirectory: String? = nil, output: ProcessOutputTarget = .inherit, error: ProcessErrorTarget = .inherit
    ) async -> ProcessOutcome {
        await runner.run(ShellCommand.spec(
            command, variables: shellVariables(kernel: kernel, arch: arch, module: module, version: version),
            environment: childEnvironment, programName: settings.programName,
            workingDirectory: workingDirectory, output: output, error: error))
    }

    /// Runs a program with the children's environment.
    func run(
        _ executable: String, _ arguments: [String], workingDirectory: String? = nil,
        output: ProcessOutputTarget = .inherit, error: ProcessErrorTarget = .inherit
    ) async -> ProcessOutcome {
        await runner.run(ProcessSpec(
            executable, arguments, environment: childEnvironment,
            workingDirectory: workingDirectory, output: output, error: error))
    }

    /// Whether a program can be found on `PATH` (`command -v`).
    func commandExists(_ name: String) -> Bool {
        ShellCommand.isCommand(name, path: childEnvironment["PATH"])
    }
}
