struct InitramfsWatch: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// The initramfs side of the current transaction (``InitramfsRegenerator``).
    var initramfs: InitramfsRegenerator {
        InitramfsRegenerator(layout: InitramfsLayout(environment: settings.environment, fileSystem: engine.fileSystem), tree: engine.tree,
                             etcDirectory: engine.etcDirectory, runner: engine.runner, environment: engine.childEnvironment,
                             listings: engine.initramfsListings)
    }

    /// The actions that install or remove modules: their transaction ends
    /// with ``InitramfsRegenerator/regenerate(after:verbose:console:)``.
    /// `kernel_preinst` and `kernel_prerm` are not among them: the kernel
    /// package being set up or removed makes (or deletes) its initramfs
    /// itself.
    static let initramfsActions: Set<Action> = [.install, .uninstall, .remove, .autoinstall, .kernelPostinst]

    /// Whether the kernel package's own hook regenerates the initramfs
    /// right after ours: Debian's postinst.d runs initramfs-tools after
    /// dkms (not so for header packages, whose hook says header_postinst).
    var kernelPackageRemakesInitramfs: Bool {
        settings.environment[KernelHookPolicy.kernelHookVariable] == "postinst"
            && engine.fileSystem.exists("/etc/kernel/postinst.d/initramfs-tools")
    }

    /// Whether the install tree is the one initramfs tools read modules
    /// from (`/lib/modules`): modules installed into another tree (a
    /// private `--installtree`, a benchmark's or a test's) are in no
    /// initramfs in /boot. Tests that point /boot elsewhere
    /// (`SWIFT_DKMS_BOOTDIR`) own both.
    var installTreeFeedsInitramfs: Bool {
        if let boot = settings.environment["SWIFT_DKMS_BOOTDIR"], !boot.isEmpty { return true }
        let system = engine.fileSystem.canonicalPath("/lib/modules") ?? "/lib/modules"
        return (engine.fileSystem.canonicalPath(installTree) ?? installTree) == system
    }

    /// Remembers what is installed before the action (the tree is locked
    /// by now), unless a parent dkms holds the lock and owns the transaction.
    func beginInitramfsWatch(_ action: Action) {
        guard Self.initramfsActions.contains(action), !engine.transaction.nested else { return }
        if !kernelPackageRemakesInitramfs && installTreeFeedsInitramfs { engine.transaction.initramfsBaseline = initramfs.installedFacts() }
        engine.transaction.installedBaseline = installedKeys()
    }

    /// `module/version/kernel/arch` of every installed module version.
    func installedKeys() -> Set<String> {
        var keys: Set<String> = []
        for record in engine.tree.status() {
            if case .built(let m, let v, let k, let a, let state) = record, state == .installed { keys.insert("\(m)/\(v)/\(k)/\(a)") }
        }
        return keys
    }

    func finishInitramfsWatch() async {
        if let baseline = engine.transaction.initramfsBaseline {
            engine.transaction.initramfsBaseline = nil
            await initramfs.regenerate(after: baseline, verbose: settings.verbose, console: engine.console)
        }
        if let baseline = engine.transaction.installedBaseline {
            engine.transaction.installedBaseline = nil
            if !installedKeys().subtracting(baseline).isEmpty { await SecureBootNotice(engine: engine).explainSecureBoot() }
        }
    }
}
