/// Runs dkms actions. All behaviour lives here and in its extensions;
/// output goes to the ``Console``, processes through ``ProcessRunning``,
/// and failures are thrown as ``DKMSError`` exactly where upstream dies.
package final class Engine {
    /// The settings of this invocation (written only while the command
    /// line is resolved, before any nested scope exists).
    package internal(set) var settings: Settings
    /// Where this scope's output goes.
    let console: any Console
    let runner: any ProcessRunning
    /// The file system the trees are changed through.
    let fileSystem: any FileSystemAccess
    /// The shell scope this engine works in.
    var scope: ShellScope
    /// What every scope of this command shares.
    let shared: CommandState
    /// The tree view (it remembers whether the root is canonical).
    var cachedTree: DKMSTree?

    /// Creates an engine.
    package init(settings: Settings, console: any Console, runner: any ProcessRunning,
                 fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.settings = settings
        self.console = console
        self.runner = runner
        self.fileSystem = fileSystem
        scope = ShellScope(settings: settings)
        shared = CommandState(settings: settings, fileSystem: fileSystem, runner: runner)
    }

    /// The engine of a scope nested in `parent`'s command: its settings,
    /// shared state and tree view, `scope` and `console`.
    init(nestedIn parent: Engine, scope: ShellScope, console: any Console) {
        settings = parent.settings
        self.console = console
        runner = parent.runner
        fileSystem = parent.fileSystem
        self.scope = scope
        shared = parent.shared
        cachedTree = parent.tree
    }

    // What every scope shares, by the names the engine has always used.
    var transaction: Transaction { shared.transaction }
    var kernels: KernelFacts { shared.kernels }
    var etcEntries: Set<String> { shared.etcEntries }
    var adminPolicy: AdminPolicy { shared.adminPolicy }
    var initramfsListings: InitramfsRegenerator.Listings { shared.initramfsListings }

    // MARK: Tree paths

    var dkmsTree: String { settings.dkmsTree }
    var installTree: String { settings.installTree }
    var sourceTree: String { settings.sourceTree }

    /// `/etc/dkms` (or the test override).
    var etcDirectory: String { FrameworkFiles.directory(settings.environment) }

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
