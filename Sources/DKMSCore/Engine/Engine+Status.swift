extension Engine {
    /// The suffixes upstream appends to a built/installed status line
    /// (`module_status_built_extra`).
    func statusSuffix(module: String, version: String, kernel: String, arch: String) async -> String {
        var suffix = ""
        let saved = state
        defer { state = saved }
        updateModuleSuffix(for: kernel)
        let config: ModuleConfig
        do {
            config = try await readConf(
                kernel: kernel, arch: arch, module: module, version: version,
                file: "\(dkmsTree)/\(module)/\(version)/source/dkms.conf").config
        } catch {
            if let diagnostic = error.diagnostic { console.report(diagnostic) }
            return ""
        }
        if FileSystem.isDirectory("\(dkmsTree)/\(module)/original_module/\(kernel)/\(arch)") {
            suffix += " (Original modules exist)"
        }
        for index in config.modules.indices where config.isBuildable(moduleAt: index) {
            let name = config.modules[index].destName
            let built = compressedOrUncompressed(tree.builtDirectory(module, version, kernel, arch) + "/module", name)
            if built.isEmpty {
                suffix += " (Built modules are missing in the kernel modules folder)"
                break
            }
            if tree.isActive(module, version, kernel, arch) {
                let location = await actualDestination(config, index: index, module: module, kernel: kernel, arch: arch) ?? ""
                let installed = compressedOrUncompressed("\(installTree)/\(kernel)\(location)", name)
                if installed.isEmpty || !FileSystem.sameContent(built, installed) {
                    suffix += " (Differences between built and installed modules)"
                    break
                }
            }
        }
        return suffix
    }

    /// Upstream's `show_status`: one line per added, built or installed
    /// module version, filtered by the command line.
    func statusAction() async {
        let module = settings.module
        let version = settings.moduleVersion
        if settings.kernels.isEmpty {
            await printStatus(module: module, version: version, kernel: "", arch: settings.arches.first ?? "")
        } else {
            for (kernel, arch) in kernelArchPairs {
                await printStatus(module: module, version: version, kernel: kernel, arch: arch)
            }
        }
    }

    /// Upstream's `do_status`.
    func printStatus(module: String, version: String, kernel: String, arch: String) async {
        await forEachStatusLine(module: module, version: version, kernel: kernel, arch: arch) { console.line($0) }
    }

    /// Computes upstream's status lines one by one; a broken module's error
    /// goes to standard error right after its line.
    func forEachStatusLine(module: String, version: String, kernel: String, arch: String,
                           _ emit: (String) -> Void) async {
        for record in tree.status(module: module, version: version, kernel: kernel, arch: arch) {
            switch record {
            case .broken(let m, let v):
                emit("\(m)/\(v): broken")
                console.error("\(m)/\(v): Missing the module source directory or the symbolic link pointing to it.",
                              "Manual intervention is required!")
            case .added(let m, let v):
                emit("\(m)/\(v): added")
            case .built(let m, let v, let k, let a, let builtState):
                let suffix = await statusSuffix(module: m, version: v, kernel: k, arch: a)
                emit("\(m)/\(v), \(k), \(a): \(builtState.rawValue)" + suffix)
            }
        }
    }
}
