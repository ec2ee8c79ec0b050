/// One dkms action as a type: upstream's checks before it changes
/// anything, and its one run, in one scope of the command (``Engine``:
/// the command's collaborators, a ``ShellScope`` and a console).
///
/// ``CommandRunner`` resolves the command line, takes the tree lock, asks
/// ``Action/command(in:)`` for the action's type, makes its checks and runs
/// it. Tests construct an action over an engine with an in-memory file
/// system and a scripted process runner, and call the same two methods.
protocol ActionCommand: ScopedStep {
    /// The scope the action runs in.
    var engine: Engine { get }
    /// Upstream's checks for this action (`check_module_args`,
    /// `check_root`, `have_one_kernel`, `module_is_added_or_die`…), in
    /// upstream's order, made once the tree is locked.
    func checkRequirements() throws(DKMSError)
    /// Runs the action.
    /// - Returns: how dkms ends.
    /// - Throws: ``DKMSError`` where upstream dies in its main shell.
    func run() async throws(DKMSError) -> RunResult
}

extension Action {
    /// The type that runs this action in `engine`'s scope.
    func command(in engine: Engine) -> any ActionCommand {
        switch self {
        case .add: AddAction(engine: engine)
        case .build: BuildAction(engine: engine)
        case .install: InstallAction(engine: engine)
        case .uninstall: UninstallAction(engine: engine)
        case .unbuild: UnbuildAction(engine: engine)
        case .remove: RemoveAction(engine: engine)
        case .autoinstall: AutoinstallAction(engine: engine)
        case .kernelPreinst, .kernelPostinst, .kernelPrerm: KernelHookAction(engine: engine, hook: self)
        case .match: MatchAction(engine: engine)
        case .mktarball: MakeTarballAction(engine: engine)
        case .ldtarball: LoadTarballAction(engine: engine)
        case .status: StatusAction(engine: engine)
        case .generateMok: GenerateMOKAction(engine: engine)
        case .mkbmdeb: BinaryPackageAction(engine: engine)
        case .fsck: FsckAction(engine: engine)
        case .cache: CacheAction(engine: engine)
        }
    }
}
