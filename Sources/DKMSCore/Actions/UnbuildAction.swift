/// `dkms unbuild`: uninstalls and unbuilds the module version for each requested kernel.
struct UnbuildAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {
        try engine.requireAddedVersion(for: .unbuild)
        try engine.requireWritableTree()
    }

    func run() async throws(DKMSError) -> RunResult {
        try await unbuildEveryKernel()
        await CommandRunner(engine: engine).postTransaction()
        return .exit(0)
    }

    /// Upstream's `unbuild_module` for every requested kernel.
    func unbuildEveryKernel() async throws(DKMSError) {
        for (index, (kernel, arch)) in engine.kernelArchPairs.enumerated() {
            if index > 0 { console.line() }
            try await UninstallStep(engine: engine).uninstallIfNeeded(module: engine.scope.module, version: engine.scope.version, kernel: kernel, arch: arch)
            UninstallStep(engine: engine).unbuildIfNeeded(module: engine.scope.module, version: engine.scope.version, kernel: kernel, arch: arch)
        }
    }
}
