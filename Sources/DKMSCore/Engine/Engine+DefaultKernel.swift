/// Where the running kernel is not the target (a chroot or container that
/// builds a system image: the running kernel has no headers here), the
/// commands that default to the running kernel target the kernels
/// installed in this root instead (upstream #605).
enum InstalledKernels {
    /// Kernels with a `build` entry (headers) under `installTree`, in
    /// version order.
    static func withHeaders(installTree: String) -> [String] {
        let kernels = FileSystem.entries(of: installTree).filter { name in
            !name.hasPrefix(".") && FileSystem.exists("\(installTree)/\(name)/build/include")
        }
        return VersionSort.sorted(kernels)
    }

}

extension Engine {
    /// The kernels a command that names none works on: the running kernel
    /// (upstream), unless it has no headers in this root while other
    /// installed kernels have; then those, announced in one line on
    /// stderr. Only `build`, `install` and `autoinstall` switch, and only
    /// when the headers are not given with `--kernelsourcedir`.
    func defaultKernels() -> [String] {
        let running = settings.runningKernel
        guard let action = settings.action, [.build, .install, .autoinstall].contains(action),
              !settings.kernelSourceDirFromCommandLine,
              !FileSystem.exists(kernelSourceDirectory(for: running) + "/include") else { return [running] }
        let installed = InstalledKernels.withHeaders(installTree: installTree).filter { $0 != running }
        guard !installed.isEmpty else { return [running] }
        let plural = installed.count == 1 ? "" : "s"
        console.errorLine("dkms: the running kernel \(running) has no headers here; using the installed kernel\(plural) \(installed.joined(separator: " ")) instead.")
        kernelsChosenForRoot = true
        return installed
    }
}

extension Engine {
    /// `autoinstall` for every kernel ``defaultKernels()`` chose, one after
    /// the other as if each had been named with `-k`.
    /// - Throws: the last kernel's ``DKMSError`` when any kernel failed.
    func autoinstallEachKernel() async throws(DKMSError) -> RunResult {
        try requireRoot()
        let pairs = Array(zip(settings.kernels, settings.arches))
        var failure: DKMSError?
        for (kernel, arch) in pairs {
            settings.kernels = [kernel]
            settings.arches = [arch]
            do {
                try await autoinstall()
            } catch {
                if let diagnostic = error.diagnostic { console.report(diagnostic) }
                failure = error
            }
        }
        settings.kernels = pairs.map(\.0)
        settings.arches = pairs.map(\.1)
        if let failure { throw failure }
        return .exit(0)
    }
}
