/// What every scope of one command shares: upstream keeps none of this in
/// shell variables (or it would not survive a subshell), so the engines of
/// nested scopes (``Engine/subshell(console:_:)``) see and change one copy.
final class CommandState {
    /// The command's change to the trees: the lock (held until the command
    /// ends), its baselines, depmod's timing.
    let transaction = Transaction()
    /// What the command learns about its kernels (headers, configuration,
    /// identities), each read once.
    let kernels: KernelFacts
    /// The names in /etc/dkms, listed once (override files are looked up
    /// for every conf read).
    lazy var etcEntries: Set<String> = Set(fileSystem.entries(of: etcDirectory))
    /// What /etc/dkms/MODULE.conf lets each module do (sandbox, cache).
    lazy var adminPolicy = AdminPolicy(etcDirectory: etcDirectory, etcEntries: etcEntries, fileSystem: fileSystem, runner: runner)
    /// The build sandbox found on the first build (nil inside: none).
    var sandboxProbe: BuildSandbox??
    /// dkms.conf evaluations of this command by their inputs, with what
    /// each printed (``ConfReader/evaluateConf(_:quiet:)``).
    var confEvaluations = ConfEvaluations()
    /// The time each shared cache location has taken in this command, and
    /// those that failed (made on the first lookup).
    var sharedCacheLedger: SharedCacheLedger?
    /// The kernels were chosen from this root because the running kernel
    /// has no headers here (``KernelChoice/defaultKernels()``): autoinstall then
    /// runs once per kernel.
    var kernelsChosenForRoot = false
    /// The line announcing those kernels, until it is said.
    var kernelChoiceNote: String?
    /// The module names in each kernel's initramfs, listed once.
    let initramfsListings = InitramfsRegenerator.Listings()
    private let etcDirectory: String
    private let fileSystem: any FileSystemAccess
    private let runner: any ProcessRunning

    /// The shared state of a command with these settings (their kernel
    /// inputs and /etc/dkms are fixed once the command line is parsed).
    init(settings: Settings, fileSystem: any FileSystemAccess, runner: any ProcessRunning) {
        kernels = KernelFacts(KernelFacts.Inputs(settings), fileSystem: fileSystem, runner: runner)
        etcDirectory = FrameworkFiles.directory(settings.environment)
        self.fileSystem = fileSystem
        self.runner = runner
    }
}
