#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Engine {
    /// The actions that tie dkms to kernel and package installs.
    func runIntegrationAction(_ action: Action) async throws(DKMSError) -> RunResult {
        switch action {
        case .autoinstall:
            if !shared.kernelsChosenForRoot { try requireOneKernelUnlessAllKernels(action.rawValue) }
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
        case .mktarball:
            try requireModuleArguments("mktarball")
            try refuseBroken()
            try requireAdded()
            try await makeTarball()
            return .exit(0)
        case .ldtarball:
            if getuid() != 0 && settings.force {
                throw DKMSError(.notPermittedOrMissingArguments, "You must be root to use this command with the --force option.")
            }
            guard try await loadTarball() else { return .exit(1) }
            return .exit(try await addModule())
        default:
            return .exit(0)
        }
    }
}
