extension Engine {
    /// The actions that tie dkms to kernel and package installs.
    func runIntegrationAction(_ action: Action) async throws(DKMSError) -> RunResult {
        throw DKMSError(1, "The action \(action.rawValue) is not available in this build of swift-dkms yet.")
    }
}

extension Engine {
    /// Upstream's `load_tarball`.
    func loadTarball() async throws(DKMSError) {
        throw DKMSError(1, "Loading tarballs is not available in this build of swift-dkms yet.")
    }
}
