/// `dkms uninstall`: uninstalls the module version from each requested kernel (``UninstallStep``).
struct UninstallAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {
        try engine.requireAddedVersion(for: .uninstall)
        try engine.requireRoot()
    }

    func run() async throws(DKMSError) -> RunResult {
        try await uninstallEveryKernel()
        await CommandRunner(engine: engine).postTransaction()
        return .exit(0)
    }

    /// Upstream's `uninstall_module` for every requested kernel.
    func uninstallEveryKernel() async throws(DKMSError) {
        for (index, (kernel, arch)) in engine.kernelArchPairs.enumerated() {
            if index > 0 { console.line() }
            try await UninstallStep(engine: engine).uninstallIfNeeded(module: engine.scope.module, version: engine.scope.version, kernel: kernel, arch: arch)
        }
    }
}
