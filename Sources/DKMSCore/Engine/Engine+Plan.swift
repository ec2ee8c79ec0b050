extension Engine {
    /// `--dry-run` (not in upstream): says what build, install, uninstall,
    /// unbuild, remove, autoinstall and the kernel hooks would do, in order,
    /// and changes nothing (no lock, no journal, no file written).
    /// - Returns: the exit status (0 unless the plan itself is impossible).
    func plan(_ action: Action) async -> Int32 {
        let module = settings.module
        let version = settings.moduleVersion
        switch action {
        case .build, .install:
            for (kernel, arch) in kernelArchPairs {
                await planBuild(module: module, version: version, kernel: kernel, arch: arch, thenInstall: action == .install)
            }
        case .uninstall, .unbuild, .remove:
            for (kernel, arch) in kernelArchPairs {
                if tree.isInstalled(module, version, kernel, arch) {
                    await planUninstall(module: module, version: version, kernel: kernel, arch: arch)
                }
                if action != .uninstall && tree.isBuilt(module, version, kernel, arch) {
                    console.line("Would unbuild \(module)/\(version) for kernel \(kernel) (\(arch)): delete \(tree.builtDirectory(module, version, kernel, arch)).")
                }
            }
            if action == .remove {
                let remaining = tree.builtEntries(module, version).filter { entry in
                    !kernelArchPairs.contains { $0.0 == entry.kernel && $0.1 == entry.arch }
                }
                if remaining.isEmpty {
                    console.line("Would delete \(module)/\(version) completely from the DKMS tree.")
                } else {
                    console.line("Would keep \(module)/\(version) in the DKMS tree (still built for \(remaining.map { "\($0.kernel) (\($0.arch))" }.joined(separator: ", "))).")
                }
            }
        case .autoinstall, .kernelPostinst:
            await planAutoinstall()
        case .kernelPreinst, .kernelPrerm:
            let kernel = firstKernel
            let arch = firstArch
            for (m, v) in tree.moduleVersions() where tree.isBuilt(m, v, kernel, arch) {
                if action == .kernelPreinst {
                    guard let config = await quietConf(m, v, kernel, arch), config.autoinstall else { continue }
                }
                let what = tree.isInstalled(m, v, kernel, arch) ? "uninstall and unbuild" : "unbuild"
                console.line("Would \(what) \(m)/\(v) for kernel \(kernel) (\(arch)).")
            }
            console.line("Would run depmod for kernel \(kernel) once, then remove empty directories under \(installTree)/\(kernel).")
        default:
            console.line("--dry-run is not supported for \(action.rawValue); nothing was done.")
        }
        return 0
    }

    /// Reads a module's conf without printing anything.
    func quietConf(_ module: String, _ version: String, _ kernel: String, _ arch: String) async -> ModuleConfig? {
        state.silenceNextConfRead = true
        defer { state.silenceNextConfRead = false }
        guard let (config, valid) = try? await readConf(
            kernel: kernel, arch: arch, module: module, version: version,
            file: "\(dkmsTree)/\(module)/\(version)/source/dkms.conf", quiet: true), valid else { return nil }
        return config
    }

    private func planBuild(module: String, version: String, kernel: String, arch: String, thenInstall: Bool) async {
        let label = "\(module)/\(version) for kernel \(kernel) (\(arch))"
        if !tree.isAdded(module, version) {
            let source = "\(sourceTree)/\(module)-\(version)"
            guard FileSystem.isDirectory(source) else {
                console.line("Would fail: \(module)/\(version) is not added and \(source) does not exist.")
                return
            }
            console.line("Would add \(module)/\(version) from \(source).")
        }
        let built = tree.isBuilt(module, version, kernel, arch)
        if built && !thenInstall {
            console.line("\(label) is already built: nothing to do (--force would rebuild it).")
            return
        }
        let conf = FileSystem.exists("\(dkmsTree)/\(module)/\(version)/source/dkms.conf")
            ? "\(dkmsTree)/\(module)/\(version)/source/dkms.conf" : "\(sourceTree)/\(module)-\(version)/dkms.conf"
        state.silenceNextConfRead = true
        guard let (config, valid) = try? await readConf(kernel: kernel, arch: arch, module: module, version: version,
                                                         file: conf, quiet: true), valid else {
            console.line("Would fail: the dkms.conf of \(module)/\(version) is not valid.")
            return
        }
        if !built {
            if config.buildExcluded {
                console.line("Would skip \(label): its BUILD_EXCLUSIVE directives do not match.")
                return
            }
            guard FileSystem.exists(kernelSourceDirectory(for: kernel) + "/include") else {
                console.line("Would fail: no kernel headers for \(kernel) at \(kernelSourceDirectory(for: kernel)).")
                return
            }
            let make = BuildPlanner.rewriteMake(config.makeCommand, jobs: settings.parallelJobs, kernel: kernel)
            console.line("Would build \(label) in \(dkmsTree)/\(module)/\(version)/build with: \(make)")
        }
        guard thenInstall else { return }
        if tree.isInstalled(module, version, kernel, arch) && !state.force {
            console.line("\(label) is already installed: nothing to do (--force would reinstall it).")
            return
        }
        guard FileSystem.exists("\(installTree)/\(kernel)") else {
            console.line("Would fail: \(installTree)/\(kernel) does not exist.")
            return
        }
        updateModuleSuffix(for: kernel)
        console.line("Would install \(label):")
        let active = FileSystem.isSymlink(tree.activeLink(module, kernel, arch))
        for index in config.modules.indices where config.isBuildable(moduleAt: index) {
            let entry = config.modules[index]
            let destination = "\(installTree)/\(kernel)\(entry.destLocation)/\(entry.destName)\(moduleSuffix)"
            var line = "  \(entry.destName) -> \(destination)"
            if !active, let existing = findModule(under: "\(installTree)/\(kernel)", named: entry.destName).first {
                line += " (the kernel's \(existing) would be archived and restored on uninstall)"
            }
            console.line(line)
        }
        console.line("Would run depmod for kernel \(kernel).")
    }

    private func planUninstall(module: String, version: String, kernel: String, arch: String) async {
        console.line("Would uninstall \(module)/\(version) from kernel \(kernel) (\(arch)):")
        guard let config = await quietConf(module, version, kernel, arch) else { return }
        for index in config.modules.indices {
            let name = config.modules[index].destName
            if let location = await actualDestination(config, index: index, module: module, kernel: kernel, arch: arch) {
                console.line("  delete \(installTree)/\(kernel)\(location)/\(name)\(moduleSuffix)")
            }
        }
        let backupDir = "\(dkmsTree)/\(module)/original_module/\(kernel)/\(arch)"
        for index in config.modules.indices {
            for (_, origin) in archivedOriginals(named: config.modules[index].destName, in: backupDir, kernel: kernel) {
                console.line("  restore the original \(origin)")
            }
        }
        console.line("Would run depmod for kernel \(kernel).")
    }

    /// The order and reasons of an autoinstall.
    private func planAutoinstall() async {
        let kernel = firstKernel
        let arch = firstArch
        if FileSystem.isRegularFile("\(etcDirectory)/no-autoinstall") {
            console.line("Automatic installation of modules has been disabled: nothing would be done.")
            return
        }
        var latest: [String: String] = [:]
        var order: [String] = []
        for record in tree.status() {
            if case .broken(let m, let v) = record {
                console.line("Would skip \(m)/\(v): it is broken.")
                continue
            }
            if let current = latest[record.module] {
                if VersionKey(record.version) > VersionKey(current) { latest[record.module] = record.version }
            } else {
                order.append(record.module)
                latest[record.module] = record.version
            }
        }
        var pending: [(String, String, [String])] = []
        var done: Set<String> = []
        for m in order {
            let v = latest[m] ?? ""
            if tree.isActive(m, v, kernel, arch) {
                console.line("\(m)/\(v) is already installed for kernel \(kernel) (\(arch)).")
                done.insert(m)
                continue
            }
            guard let config = await quietConf(m, v, kernel, arch) else {
                console.line("Would fail: the dkms.conf of \(m)/\(v) is not valid.")
                continue
            }
            guard config.autoinstall else {
                console.line("Would skip \(m)/\(v): AUTOINSTALL is not set.")
                continue
            }
            pending.append((m, v, ShellText.words(config.buildDepends.joined(separator: " "))))
        }
        var step = 0
        var wave = 0
        while !pending.isEmpty {
            let ready = pending.filter { $0.2.allSatisfy(done.contains) }
            guard !ready.isEmpty else { break }
            wave += 1
            console.line("Would autoinstall for kernel \(kernel) (\(arch)), round \(wave) (built in parallel, installed in this order):")
            for (m, v, _) in ready {
                step += 1
                let how = tree.isBuilt(m, v, kernel, arch) ? "install (already built)" : "build and install"
                console.line("  \(step). \(m)/\(v): \(how)")
                done.insert(m)
            }
            pending.removeAll { item in ready.contains { $0.0 == item.0 } }
        }
        for (m, v, deps) in pending {
            console.line("Would not install \(m)/\(v): missing BUILD_DEPENDS \(deps.filter { !done.contains($0) }.joined(separator: " ")).")
        }
        if step > 0 { console.line("Would run depmod for kernel \(kernel) once.") }
    }
}
