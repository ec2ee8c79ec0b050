extension Engine {
    /// `--dry-run` (not in upstream): says what build, install, uninstall,
    /// unbuild, remove, autoinstall and the kernel hooks would do, in order,
    /// and changes nothing (no lock, no journal, no file written).
    /// - Returns: the exit status (0 unless the plan itself is impossible).
    func plan(_ action: Action) async -> Int32 {
        let module = scope.module
        let version = scope.version
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
        scope.silenceNextConfRead = true
        defer { scope.silenceNextConfRead = false }
        guard let (config, valid) = try? await readConf(
            kernel: kernel, arch: arch, module: module, version: version,
            file: tree.confFile(module, version), quiet: true), valid else { return nil }
        return config
    }

    private func planBuild(module: String, version: String, kernel: String, arch: String, thenInstall: Bool) async {
        let label = "\(module)/\(version) for kernel \(kernel) (\(arch))"
        if !tree.isAdded(module, version) {
            let source = "\(sourceTree)/\(module)-\(version)"
            guard fileSystem.isDirectory(source) else {
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
        let conf = fileSystem.exists(tree.confFile(module, version))
            ? tree.confFile(module, version) : "\(sourceTree)/\(module)-\(version)/dkms.conf"
        scope.silenceNextConfRead = true
        guard let (config, valid) = try? await readConf(kernel: kernel, arch: arch, module: module, version: version,
                                                         file: conf, quiet: true), valid else {
            console.line("Would fail: the dkms.conf of \(module)/\(version) is not valid.")
            return
        }
        planBuild: if !built {
            if config.buildExcluded {
                console.line("Would skip \(label): its BUILD_EXCLUSIVE directives do not match.")
                return
            }
            guard kernels.hasHeaders(kernel) else {
                switch kernels.fleetIdentity(kernel: kernel, arch: arch) {
                case .success(let identity)?:
                    let locations = settings.buildCacheShared.joined(separator: ", ")
                    console.line("Would take \(label) from the shared module caches (\(locations)) by the kernel's identity"
                                 + " (\(identity.banner)): no kernel headers for \(kernel), nothing is built.")
                case .failure(let problem)?:
                    console.line("Would fail: no kernel headers for \(kernel) at \(kernels.sourceDirectory(for: kernel)),"
                                 + " and its identity for the shared module caches is unknown (\(problem)).")
                    return
                case nil:
                    console.line("Would fail: no kernel headers for \(kernel) at \(kernels.sourceDirectory(for: kernel)).")
                    return
                }
                if thenInstall { break planBuild }
                return
            }
            let make = BuildPlanner.rewriteMake(config.makeCommand, jobs: settings.parallelJobs, kernel: kernel)
            console.line("Would build \(label) in \(tree.buildDirectory(module, version)) with: \(make)")
        }
        guard thenInstall else { return }
        if tree.isInstalled(module, version, kernel, arch) && !scope.force {
            console.line("\(label) is already installed: nothing to do (--force would reinstall it).")
            return
        }
        guard fileSystem.exists("\(installTree)/\(kernel)") else {
            console.line("Would fail: \(installTree)/\(kernel) does not exist.")
            return
        }
        updateModuleSuffix(for: kernel)
        let plan = await installPlan(module: module, version: version, kernel: kernel, arch: arch, config: config) {
            [module, version] name, kernelModules, console in
            // An unbuilt module cannot be compared with the kernel's yet.
            guard built else { return true }
            return await versionIsSane(kernel: kernel, arch: arch, module: module, version: version, obsoleteBy: config.obsoleteBy,
                                       name: name, kernelModules: kernelModules, console: console)
        }
        console.line("Would install \(label):")
        for step in plan.steps {
            guard let copy = step.copy else {
                console.line("  \(step.name) would not be installed: its version check refuses it (--force would install it)")
                continue
            }
            var line = "  \(copy.name) -> \(copy.destination)"
            if let archive = copy.archive {
                line += " (the kernel's \(archive.original) would be archived and restored on uninstall)"
            }
            console.line(line)
        }
        console.line("Would run depmod for kernel \(kernel).")
    }

    private func planUninstall(module: String, version: String, kernel: String, arch: String) async {
        console.line("Would uninstall \(module)/\(version) from kernel \(kernel) (\(arch)):")
        guard let config = await quietConf(module, version, kernel, arch) else { return }
        updateModuleSuffix(for: kernel)
        let plan = await uninstallPlan(module: module, version: version, kernel: kernel, arch: arch, config: config)
        for step in plan.steps {
            if let location = step.location {
                console.line("  delete \(plan.kernelDirectory)\(location)/\(step.name)\(moduleSuffix)")
            }
        }
        for restore in plan.steps.flatMap(plan.restores(of:)) {
            console.line("  restore the original \(restore.origin)")
        }
        console.line("Would run depmod for kernel \(kernel).")
    }

    /// The order and reasons of an autoinstall, for each kernel, from the
    /// same scheduler autoinstall runs.
    private func planAutoinstall() async {
        if fileSystem.isRegularFile("\(etcDirectory)/no-autoinstall") {
            console.line("Automatic installation of modules has been disabled: nothing would be done.")
            return
        }
        let (versions, broken) = AutoinstallScheduler.newestVersions(tree.status())
        for (m, v) in broken { console.line("Would skip \(m)/\(v): it is broken.") }
        for (kernel, arch) in kernelArchPairs {
            var queue: [AutoinstallCandidate] = []
            var done: Set<String> = []
            for (m, v) in versions {
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
                queue.append(AutoinstallCandidate(module: m, version: v,
                                                  dependencies: ShellText.words(config.buildDepends.joined(separator: " "))))
            }
            let (waves, unresolved) = AutoinstallScheduler.waves(queue, satisfied: done)
            var step = 0
            for (index, wave) in waves.enumerated() {
                console.line("Would autoinstall for kernel \(kernel) (\(arch)), round \(index + 1) (built in parallel, installed in this order):")
                for candidate in wave {
                    step += 1
                    let how = tree.isBuilt(candidate.module, candidate.version, kernel, arch) ? "install (already built)" : "build and install"
                    console.line("  \(step). \(candidate.module)/\(candidate.version): \(how)")
                }
            }
            let satisfied = done.union(waves.joined().map(\.module))
            for candidate in unresolved {
                console.line("Would not install \(candidate.module)/\(candidate.version): missing BUILD_DEPENDS \(candidate.dependencies.filter { !satisfied.contains($0) }.joined(separator: " ")).")
            }
            if step > 0 { console.line("Would run depmod for kernel \(kernel) once.") }
        }
    }
}
