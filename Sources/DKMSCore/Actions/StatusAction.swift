/// `dkms status`: a line per module version and kernel (or, with
/// `--json`, the entries for the CLI to render), read from the committed
/// state of the trees without the lock.
struct StatusAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {}

    func run() async throws(DKMSError) -> RunResult {
        if settings.jsonOutput {
            return .statusEntries(await engine.readingCommittedState { await StatusLines(engine: $0).statusEntries() },
                                  failures: KernelHookPolicy(engine: engine).statusFailures(),
                                  cache: CacheAction(engine: engine).cacheReportText.report())
        }
        await engine.readingCommittedState { await StatusLines(engine: $0).statusAction() }
        return .exit(0)
    }
}
