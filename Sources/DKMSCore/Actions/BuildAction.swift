/// `dkms build`: builds the module version for each requested kernel
/// (several at once when they can: ``ConcurrentBuilds``).
struct BuildAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {
        try engine.banAll(Action.build.rawValue)
        try engine.refuseBroken()
        try engine.requireWritableTree()
    }

    /// - Returns: the status of the last kernel's build, as upstream's loop.
    func run() async throws(DKMSError) -> RunResult {
        let batch = ConcurrentBuilds(engine: engine)
        if await batch.canBuildKernelsConcurrently() {
            return .exit(await batch.buildForKernelsConcurrently(install: false))
        }
        var status: Int32 = 0
        for (kernel, arch) in engine.kernelArchPairs {
            status = await BuildStep(engine: engine).buildIfNeeded(module: engine.scope.module, version: engine.scope.version, kernel: kernel, arch: arch)
        }
        return .exit(status)
    }
}
