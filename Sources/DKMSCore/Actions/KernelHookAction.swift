/// The kernel hooks: `kernel_postinst` (autoinstall for the new kernel),
/// `kernel_preinst` and `kernel_prerm` (unbuild what was built for it).
/// Which failures a hook forgives is ``KernelHookPolicy``'s.
struct KernelHookAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine
    /// `kernel_preinst`, `kernel_postinst` or `kernel_prerm`.
    let hook: Action

    func checkRequirements() throws(DKMSError) {
        try engine.requireRoot()
        try engine.requireOneKernel(hook.rawValue)
        // Upstream's kernel_preinst checks as kernel_prerm too.
        if hook == .kernelPreinst { try engine.requireOneKernel(Action.kernelPrerm.rawValue) }
    }

    func run() async throws(DKMSError) -> RunResult {
        switch hook {
        case .kernelPostinst: try await AutoinstallAction(engine: engine).autoinstall()
        case .kernelPreinst: try await unbuildForKernel(onlyAutoinstall: true, action: hook.rawValue)
        default: try await unbuildForKernel(onlyAutoinstall: false, action: hook.rawValue)
        }
        return .exit(0)
    }

    /// Upstream's `kernel_preinst` (only AUTOINSTALL modules) and
    /// `kernel_prerm` (every module): unbuilds everything built for the
    /// kernel, with one deferred depmod and empty directories removed.
    /// - Throws: ``DKMSError`` 14 naming the modules that failed.
    func unbuildForKernel(onlyAutoinstall: Bool, action: String) async throws(DKMSError) {
        let kernel = engine.firstKernel
        let arch = engine.firstArch
        transaction.depmod.deferByMarker()
        var failed = ""
        for (m, v) in tree.moduleVersions() {
            guard tree.isBuilt(m, v, kernel, arch) else { continue }
            if onlyAutoinstall {
                let config = try await ConfReader(engine: engine).readConfOrDie(kernel: kernel, arch: arch, module: engine.scope.module,
                                                     version: engine.scope.version, file: "\(dkmsTree)/\(m)/\(v)/source/dkms.conf")
                guard config.autoinstall else { continue }
            }
            console.errorLine("dkms: removing module \(m)/\(v) for kernel \(kernel) (\(arch))")
            let status = await engine.subshell { shell throws(DKMSError) -> Int32 in
                shell.scope.module = m
                shell.scope.version = v
                try await UnbuildAction(engine: shell).unbuildEveryKernel()
                return 0
            }
            if status != 0 { failed += " \(m)/\(v)(\(status))" }
            if !onlyAutoinstall { console.line() }
        }
        let marker = "\(dkmsTree)/depmod-pending-\(kernel)-\(arch)"
        if fileSystem.existsNoFollow(marker) {
            fileSystem.removeFile(marker)
            // Upstream passes the function's (empty) first argument here.
            _ = await engine.invokeCommand("do_depmod ", description: "Running depmod", log: nil, background: true) { target in
                await engine.depmod(kernel: "", output: target)
            }
        }
        _ = transaction.depmod.resume()
        let kernelDir = "\(installTree)/\(kernel)"
        if fileSystem.isDirectory(kernelDir) { fileSystem.deleteEmptyDirectories(under: kernelDir) }
        if !failed.isEmpty {
            throw DKMSError(.kernelHookFailed, "dkms \(action) for kernel \(kernel) (\(arch)) failed for module(s)\(failed).")
        }
    }
}
