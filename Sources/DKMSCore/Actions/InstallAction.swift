/// `dkms install`: installs the module version into each requested kernel,
/// building it first where it is not built (``InstallStep``), then runs
/// `post_transaction`.
struct InstallAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {
        try engine.banAll(Action.install.rawValue)
        try engine.refuseBroken()
        try engine.requireRoot()
    }

    /// - Returns: the status of the last kernel's install, as upstream's loop.
    func run() async throws(DKMSError) -> RunResult {
        let batch = ConcurrentBuilds(engine: engine)
        var status: Int32 = 0
        if await batch.canBuildKernelsConcurrently() {
            status = await batch.buildForKernelsConcurrently(install: true)
        } else {
            for (kernel, arch) in engine.kernelArchPairs {
                status = await InstallStep(engine: engine).installIfNeeded(module: engine.scope.module, version: engine.scope.version, kernel: kernel, arch: arch)
            }
        }
        if status == 0 { await CommandRunner(engine: engine).postTransaction() }
        return .exit(status)
    }
}
