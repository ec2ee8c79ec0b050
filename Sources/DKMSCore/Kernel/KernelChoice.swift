/// Where the running kernel is not the target (a chroot or container that
/// builds a system image: the running kernel has no headers here), the
/// commands that default to the running kernel target the kernels
/// installed in this root instead (upstream #605).
enum InstalledKernels {
    /// Kernels with a `build` entry (headers) under `installTree`, in
    /// version order.
    static func withHeaders(installTree: String, fileSystem: any FileSystemAccess) -> [String] {
        let kernels = fileSystem.entries(of: installTree).filter { name in
            !name.hasPrefix(".") && fileSystem.exists("\(installTree)/\(name)/build/include")
        }
        return VersionSort.sorted(kernels)
    }

    /// The kernels `autoinstall --all-kernels` works on: those with headers
    /// and, when their modules can come from the fleet, those with an image
    /// in `bootDirectory` (a client without headers), in version order.
    static func forAutoinstall(installTree: String, fleet: Bool, bootDirectory: String, fileSystem: any FileSystemAccess) -> [String] {
        let withHeaders = withHeaders(installTree: installTree, fileSystem: fileSystem)
        guard fleet else { return withHeaders }
        let booted = fileSystem.entries(of: installTree).filter { name in
            !name.hasPrefix(".") && fileSystem.isRegularFile("\(bootDirectory)/vmlinuz-\(name)")
        }
        return VersionSort.sorted(Array(Set(withHeaders + booted)))
    }

}

struct KernelChoice: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// The kernels a command that names none works on: the running kernel
    /// (upstream), unless it has no headers in this root while other
    /// installed kernels have; then those, announced in one line on
    /// stderr. Only `build`, `install` and `autoinstall` switch, and only
    /// when the headers are not given with `--kernelsourcedir`.
    /// Says, once and on stderr, which kernels ``defaultKernels()`` chose.
    /// It is said where a chosen kernel is first used (a build is about to
    /// prepare it, an install or autoinstall is about to act on it), so that
    /// wherever upstream stops earlier with an error (a broken module, a
    /// missing argument or source) the output stays upstream's.
    func announceChosenKernels() {
        guard let note = engine.shared.kernelChoiceNote else { return }
        engine.shared.kernelChoiceNote = nil
        console.errorLine(note)
    }

    func defaultKernels() -> [String] {
        let running = settings.runningKernel
        guard let action = settings.action, [.build, .install, .autoinstall].contains(action),
              !settings.kernelSourceDirFromCommandLine,
              !engine.kernels.hasHeaders(running) else { return [running] }
        let installed = InstalledKernels.withHeaders(installTree: engine.installTree, fileSystem: engine.fileSystem).filter { $0 != running }
        guard !installed.isEmpty else { return [running] }
        let plural = installed.count == 1 ? "" : "s"
        engine.shared.kernelChoiceNote = "dkms: the running kernel \(running) has no headers here; using the installed kernel\(plural) \(installed.joined(separator: " ")) instead."
        engine.shared.kernelsChosenForRoot = true
        return installed
    }
}
