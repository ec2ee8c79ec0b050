extension Engine {
    /// The actions that tie dkms to kernel and package installs.
    func runIntegrationAction(_ action: Action) async throws(DKMSError) -> RunResult {
        switch action {
        case .autoinstall:
            try requireOneKernel(action.rawValue)
            try requireRoot()
            try await autoinstall()
            return .exit(0)
        case .kernelPostinst:
            try requireRoot()
            try requireOneKernel(action.rawValue)
            try await autoinstall()
            return .exit(0)
        case .kernelPreinst:
            try requireRoot()
            try requireOneKernel(action.rawValue)
            try requireOneKernel("kernel_prerm")
            try await unbuildForKernel(onlyAutoinstall: true, action: "kernel_preinst")
            return .exit(0)
        case .kernelPrerm:
            try requireRoot()
            try requireOneKernel(action.rawValue)
            try await unbuildForKernel(onlyAutoinstall: false, action: "kernel_prerm")
            return .exit(0)
        case .match:
            try requireRoot()
            try requireOneKernel("match")
            return .exit(try await match())
        default:
            throw DKMSError(1, "The action \(action.rawValue) is not available in this build of swift-dkms yet.")
        }
    }

    /// Upstream's `load_tarball`.
    func loadTarball() async throws(DKMSError) {
        throw DKMSError(1, "Loading tarballs is not available in this build of swift-dkms yet.")
    }
}
