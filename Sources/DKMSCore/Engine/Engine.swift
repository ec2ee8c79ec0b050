/// The state upstream keeps in shell variables that a subshell copies
/// and then throws away. Work that upstream runs in `( … )` runs in
/// ``Engine/subshell(_:)``, which restores this afterwards.
struct ShellState {
    /// The key of the last successful `read_conf` (upstream `last_mvka`).
    var lastConfKey: String?
    /// The result of that read.
    var lastConfig: ModuleConfig?
    /// `prepared_kernel`: the kernel/arch whose headers and signing were prepared.
    var preparedKernel = "none"
    /// `force` (install may switch it on for listed modules).
    var force = false
    /// `force_version_override`.
    var forceVersionOverride = false
    /// The exported environment of children (CC, KERNEL_CC, directives…).
    var environment: [String: String] = [:]
    /// Lazily read signing configuration (`sign_file`, keys…).
    var signing = SigningState()
    /// `delayed_depmod`: write a marker instead of running depmod.
    var delayedDepmod = false
    /// `module_compressed_suffix` (`.gz`, `.xz`, `.zst` or empty).
    var compressedSuffix = ""
    /// The next conf read behaves as upstream's cache hit: it prints nothing.
    var silenceNextConfRead = false
    /// `package_name` of the last conf read, which decides progress dots.
    var packageName = ""
}

/// Runs dkms actions. All behaviour lives here and in its extensions;
/// output goes to the ``Console``, processes through ``ProcessRunning``,
/// and failures are thrown as ``DKMSError`` exactly where upstream dies.
public final class Engine {
    /// The settings of this invocation.
    public internal(set) var settings: Settings
    var console: any Console
    let runner: any ProcessRunning
    var state = ShellState()
    /// The tree lock, held until the engine goes away (the process ends).
    var treeLock: TreeLock?
    /// Compressed-module suffixes found per kernel directory (one walk each).
    var suffixesByKernel: [String: Set<String>] = [:]
    /// The names in /etc/dkms, listed once (override files are looked up
    /// for every conf read).
    lazy var etcEntries: Set<String> = Set(FileSystem.entries(of: etcDirectory))
    /// The kernel config file of each kernel source directory.
    var kernelConfigBySource: [String: String] = [:]
    /// The tree view (it remembers whether the root is canonical).
    var cachedTree: DKMSTree?
    /// Whether each kernel was built with clang.
    var clangByKernel: [String: Bool] = [:]
    /// Kernels whose depmod is deferred to the end of the command, so it
    /// runs once per kernel (nil: depmod runs when upstream runs it). Not
    /// scoped by subshells: it collects across them.
    var deferredDepmod: Set<String>?

    /// Creates an engine.
    public init(settings: Settings, console: any Console, runner: any ProcessRunning) {
        self.settings = settings
        self.console = console
        self.runner = runner
        state.force = settings.force
        state.forceVersionOverride = settings.forceVersionOverride
        state.environment = settings.environment
        for name in BuildJob.variables { state.environment.removeValue(forKey: name) }
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
        let saved = state
        let savedSettings = settings
        defer {
            state = saved
            settings = savedSettings
        }
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
        let source = kernelSourceDirectory(for: kernel)
        var globals: [(name: String, value: ShellArray)] = [
            ("kernelver", ShellArray(scalar: kernel)),
            ("arch", ShellArray(scalar: arch)),
            ("module", ShellArray(scalar: module)),
            ("module_version", ShellArray(scalar: version)),
            ("kernel_source_dir", ShellArray(scalar: source)),
            ("kernel_config", ShellArray(scalar: kernelConfigPath(sourceDirectory: source))),
            ("dkms_tree", ShellArray(scalar: dkmsTree)),
            ("source_tree", ShellArray(scalar: sourceTree)),
            ("install_tree", ShellArray(scalar: installTree)),
            ("tmp_location", ShellArray(scalar: settings.tmpLocation)),
            ("running_distribution", ShellArray(scalar: settings.distribution)),
            ("current_kernel", ShellArray(scalar: settings.runningKernel)),
            ("current_os", ShellArray(scalar: "Linux")),
            ("parallel_jobs", ShellArray(scalar: settings.parallelJobs)),
            ("verbose", ShellArray(scalar: settings.verbose ? "true" : "")),
            ("force", ShellArray(scalar: state.force ? "true" : "")),
            ("package_name", ShellArray(scalar: state.packageName)),
        ]
        if !settings.conf.isEmpty { globals.append(("conf", ShellArray(scalar: settings.conf))) }
        return globals
    }

    /// The environment children get.
    var childEnvironment: [String: String] { state.environment }

    /// Runs a command string with bash as upstream's `eval` would, with
    /// dkms' variables defined. A command of plain words only (no quote,
    /// expansion or operator) means the same without a shell, and is run
    /// directly, with `PWD` set as bash would set it.
    func evaluate(
        _ command: String, kernel: String, arch: String, module: String, version: String,
        workingDirectory: String? = nil, output: ProcessOutputTarget = .inherit, error: ProcessErrorTarget = .inherit
    ) async -> ProcessOutcome {
        if let words = Self.plainWords(command), let program = words.first, !Self.shellKeywords.contains(program),
           commandExists(program) {
            var environment = childEnvironment
            if let workingDirectory { environment["PWD"] = workingDirectory }
            return await runner.run(ProcessSpec(
                program, Array(words.dropFirst()), environment: environment,
                workingDirectory: workingDirectory, output: output, error: error))
        }
        let script = ShellSourcer.definitions(shellGlobals(kernel: kernel, arch: arch, module: module, version: version))
            + "eval " + ShellText.quote(command) + "\n"
        return await runner.run(ProcessSpec(
            Shell.bash, ["-c", script, settings.programName], environment: childEnvironment,
            workingDirectory: workingDirectory, output: output, error: error))
    }

    /// Words a shell would not change: letters, digits and `_-=/.,:+@%`
    /// separated by spaces, the first not an assignment. Nil otherwise.
    static func plainWords(_ command: String) -> [String]? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-=/.,:+@% ")
        guard !command.isEmpty, command.allSatisfy({ allowed.contains($0) }) else { return nil }
        let words = command.split(separator: " ").map(String.init)
        guard let first = words.first, !first.contains("=") else { return nil }
        return words
    }

    /// Words that are shell syntax or builtins rather than programs.
    static let shellKeywords: Set<String> = ["cd", "exec", "eval", "export", "set", "unset", "source", ".", "exit", "true", "false",
                                             "if", "then", "else", "fi", "for", "while", "do", "done", "case", "esac", "echo", "test", "read"]

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
        if name.isEmpty { return false }
        // A directory is "executable" (searchable) but bash cannot run it.
        if name.contains("/") { return FileSystem.isExecutable(name) && FileSystem.isRegularFile(name) }
        return commandPath(name) != nil
    }
}
