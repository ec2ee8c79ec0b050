/// A type that works in one scope of a command (an action or a step of
/// one): it names the scope's ``Engine`` and reads the command's
/// collaborators and the scope's state through it.
protocol ScopedStep {
    /// The scope it works in.
    var engine: Engine { get }
}

extension ScopedStep {
    /// The invocation's settings.
    var settings: Settings { engine.settings }
    /// Where this scope's output goes.
    var console: any Console { engine.console }
    /// The file system the trees are read and changed through.
    var fileSystem: any FileSystemAccess { engine.fileSystem }
    /// Runs the command's processes.
    var runner: any ProcessRunning { engine.runner }
    /// The scope's shell state; a step changes its scope's.
    var scope: ShellScope {
        get { engine.scope }
        nonmutating set { engine.scope = newValue }
    }
    /// The scope's tree view.
    var tree: DKMSTree { engine.tree }
    /// What the command learns about its kernels.
    var kernels: KernelFacts { engine.kernels }
    /// The command's change to the trees.
    var transaction: Transaction { engine.transaction }
    /// `$dkms_tree`.
    var dkmsTree: String { engine.dkmsTree }
    /// `$install_tree`.
    var installTree: String { engine.installTree }
}
