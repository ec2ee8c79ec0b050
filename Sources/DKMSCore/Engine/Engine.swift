/// One shell scope of a command: its ``CommandContext``, upstream's
/// shell-scoped state (``ShellScope``) and the console its output goes
/// to, with the primitives upstream's functions share (conf variables,
/// commands, requirements). The actions are types that run in one
/// (``ActionCommand``); a nested scope is another engine over the same
/// context (``Engine/init(nestedIn:scope:console:)``).
package final class Engine {
    /// What the whole command works with.
    let context: CommandContext
    /// Where this scope's output goes.
    let console: any Console
    /// The shell scope this engine works in.
    var scope: ShellScope
    /// The tree view of this scope (a committed read's reader has one that
    /// overlays the journal; it remembers whether the root is canonical).
    var cachedTree: DKMSTree?

    /// Creates the engine of a command's outermost scope.
    package init(settings: Settings, console: any Console, runner: any ProcessRunning,
                 fileSystem: any FileSystemAccess = LocalFileSystem()) {
        context = CommandContext(settings: settings, runner: runner, fileSystem: fileSystem)
        self.console = console
        scope = ShellScope(settings: settings)
    }

    /// The engine of a scope nested in `parent`'s command: the same
    /// context and tree view, `scope` and `console`.
    init(nestedIn parent: Engine, scope: ShellScope, console: any Console) {
        context = parent.context
        self.console = console
        self.scope = scope
        cachedTree = parent.tree
    }

    /// The settings of this invocation (written only while the command
    /// line is resolved, before any action runs).
    package internal(set) var settings: Settings {
        get { context.settings }
        set { context.settings = newValue }
    }
    var runner: any ProcessRunning { context.runner }
    var fileSystem: any FileSystemAccess { context.fileSystem }
    /// What every scope of this command shares.
    var shared: CommandState { context.state }

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

    /// Runs the invocation (``CommandRunner/run()``): the action, then
    /// the end of its transaction.
    package func run() async throws(DKMSError) -> RunResult {
        try await CommandRunner(engine: self).run()
    }
}
