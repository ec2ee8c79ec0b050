/// `dkms generate_mok`: makes the machine owner key dkms signs with, when
/// there is none (``SigningSetup/prepareMOK(kernel:)``).
struct GenerateMOKAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {}

    /// - Returns: 0 when the key exists or was made, else 1.
    func run() async throws(DKMSError) -> RunResult {
        let signing = SigningSetup(engine: engine)
        await signing.readSigningFramework(kernel: engine.firstKernel, arch: engine.firstArch, module: engine.scope.module, version: engine.scope.version)
        return .exit(await signing.prepareMOK(kernel: engine.firstKernel) ? 0 : 1)
    }
}
