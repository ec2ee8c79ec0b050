struct DryRun: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// `--dry-run` (not in upstream): says what build, install, uninstall,
    /// unbuild, remove, autoinstall and the kernel hooks would do, in order,
    /// and changes nothing (no lock, no journal, no file written).
    /// - Returns: the exit status (0 unless the plan itself is impossible).
    func plan(_ action: Action) async -> Int32 {
        let module = engine.scope.module
        let version = engine.scope.version
        switch action {
        case .build, .install:
            for (kernel, arch) in engine.kernelArchPairs {
                await planBuild(module: module, version: version, kernel: kernel, arch: arch, thenInstall: action == .install)
            }
        case .uninstall, .unbuild, .remove:
            for (kernel, arch) in engine.kernelArchPairs {
                if engine.tree.isInstalled(module, version, kernel, arch) {
                    await planUninstall(module: module, version: version, kernel: kernel, arch: arch)
                }
                if action != .uninstall && engine.tree.isBuilt(module, version, kernel, arch) {
                    engine.console.line("Would unbuild \(module)/\(version) for kernel \(kernel) (\(arch)): delete \(engine.tree.builtDirectory(module, version, kernel, arch)).")
                }
            }
            if action == .remove {
                let remaining = engine.tree.builtEntries(module, version).filter { entry in
                    !engine.kernelArchPairs.contains { $0.0 == entry.kernel && $0.1 == entry.arch }
                }
                if remaining.isEmpty {
                    engine.console.line("Would delete \(module)/\(version) completely from the DKMS tree.")
                } else {
                    engine.console.line("Would keep \(module)/\(version) in the DKMS tree (still built for \(remaining.map { "\($0.kernel) (\($0.arch))" }.joined(separator: ", "))).")
                }
            }
        case .autoinstall, .kernelPostinst:
            await planAutoinstall()
        case .kernelPreinst, .kernelPrerm:
            let kernel = engine.firstKernel
            let arch = engine.firstArch
            for (m, v) in engine.tree.moduleVersions() where engine.tree.isBuilt(m, v, kernel, arch) {
                if action == .kernelPreinst {
                    guard let config = await quietConf(m, v, kernel, arch), config.autoinstall else { continue }
                }
                let what = engine.tree.isInstalled(m, v, kernel, arch) ? "uninstall and unbuild" : "unbuild"
                engine.console.line("Would \(what) \(m)/\(v) for kernel \(kernel) (\(arch)).")
            }
            engine.console.line("Would run depmod for kernel \(kernel) once, then remove empty directories under \(installTree)/\(kernel).")
        default:
            engine.console.line("--dry-run is not supported for \(action.rawValue); nothing was done.")
        }
        return 0
    }

    /// Reads a module's conf without printing anything.
    func quietConf(_ module: String, _ version: String, _ kernel: String, _ arch: String) async -> ModuleConfig? {
        engine.scope.silenceNextConfRead = true
        defer { engine.scope.silenceNextConfRead = false }
        guard let (config, valid) = try? await ConfReader(engine: engine).readConf(
            kernel: kernel, arch: arch, module: module, version: version,
            file: engine.tree.confFile(module, version), quiet: true), valid else { return nil }
        return config
    }

    private func planBuild(module: String, version: String, kernel: String, arch: String, thenInstall: Bool) async {
        let label = "\(module)/\(version) for kernel \(kernel) (\(arch))"
        if !engine.tree.isAdded(module, version) {
            let source = "\(engine.sourceTree)/\(module)-\(version)"
            guard fileSystem.isDirectory(source) else {
                engine.console.line("Would fail: \(module)/\(version) is not added and \(source) does not exist.")
                return
            }
            engine.console.line("Would add \(module)/\(version) from \(source).")
        }
        let built = engine.tree.isBuilt(module, version, kernel, arch)
        if built && !thenInstall {
            engine.console.line("\(label) is already built: nothing to do (--force would rebuild it).")
            return
        }
        let conf = fileSystem.exists(engine.tree.confFile(module, version))
            ? engine.tree.confFile(module, version) : "\(engine.sourceTree)/\(module)-\(version)/dkms.conf"
        engine.scope.silenceNextConfRead = true
        guard let (config, valid) = try? await ConfReader(engine: engine).readConf(kernel: kernel, arch: arch, module: module, version: version,
                                                         file: conf, quiet: true), valid else {
            engine.console.line("Would fail: the dkms.conf of \(module)/\(version) is not valid.")
            return
        }
        planBuild: if !built {
            if config.buildExcluded {
                engine.console.line("Would skip \(label): its BUILD_EXCLUSIVE directives do not match.")
                return
            }
            guard kernels.hasHeaders(kernel) else {
                switch kernels.fleetIdentity(kernel: kernel, arch: arch) {
                case .success(let identity)?:
                    let locations = settings.buildCacheShared.joined(separator: ", ")
                    engine.console.line("Would take \(label) from the shared module caches (\(locations)) by the kernel's identity"
                                 + " (\(identity.banner)): no kernel headers for \(kernel), nothing is built.")
                case .failure(let problem)?:
                    engine.console.line("Would fail: no kernel headers for \(kernel) at \(kernels.sourceDirectory(for: kernel)),"
                                 + " and its identity for the shared module caches is unknown (\(problem)).")
                    return
                case nil:
                    engine.console.line("Would fail: no kernel headers for \(kernel) at \(kernels.sourceDirectory(for: kernel)).")
                    return
                }
                if thenInstall { break planBuild }
                return
            }
            let make = BuildPlanner.rewriteMake(config.makeCommand, jobs: settings.parallelJobs, kernel: kernel)
            engine.console.line("Would build \(label) in \(engine.tree.buildDirectory(module, version)) with: \(make)")
        }
        guard thenInstall else { return }
        if engine.tree.isInstalled(module, version, kernel, arch) && !engine.scope.force {
            engine.console.line("\(label) is already installed: nothing to do (--force would reinstall it).")
            return
        }
        guard fileSystem.exists("\(installTree)/\(kernel)") else {
            engine.console.line("Would fail: \(installTree)/\(kernel) does not exist.")
            return
        }
        engine.updateModuleSuffix(for: kernel)
        let plan = await InstallStep(engine: engine).installPlan(module: module, version: version, kernel: kernel, arch: arch, config: config) {
            [module, version] name, kernelModules, console in
            // An unbuilt module cannot be compared with the kernel's yet.
            guard built else { return true }
            return await InstallStep(engine: engine).versionIsSane(kernel: kernel, arch: arch, module: module, version: version, obsoleteBy: config.obsoleteBy,
                                       name: name, kernelModules: kernelModules, console: console)
        }
        engine.console.line("Would install \(label):")
        for step in plan.steps {
            guard let copy = step.copy else {
                engine.console.line("  \(step.name) would not be installed: its version check refuses it (--force would install it)")
                continue
            }
            var line = "  \(copy.name) -> \(copy.destination)"
            if let archive = copy.archive {
                line += " (the kernel's \(archive.original) would be archived and restored on uninstall)"
            }
            engine.console.line(line)
        }
        engine.console.line("Would run depmod for kernel \(kernel).")
    }

    private func planUninstall(module: String, version: String, kernel: String, arch: String) async {
        engine.console.line("Would uninstall \(module)/\(version) from kernel \(kernel) (\(arch)):")
        guard let config = await quietConf(module, version, kernel, arch) else { return }
        engine.updateModuleSuffix(for: kernel)
        let plan = await UninstallStep(engine: engine).uninstallPlan(module: module, version: version, kernel: kernel, arch: arch, config: config)
        for step in plan.steps {
            if let location = step.location {
                engine.console.line("  delete \(plan.kernelDirectory)\(location)/\(step.name)\(engine.moduleSuffix)")
            }
        }
        for restore in plan.steps.flatMap(plan.restores(of:)) {
            engine.console.line("  restore the original \(restore.origin)")
        }
        engine.console.line("Would run depmod for kernel \(kernel).")
    }

    /// The order and reasons of an autoinstall, for each kernel, from the
    /// same scheduler autoinstall runs.
    private func planAutoinstall() async {
        if fileSystem.isRegularFile("\(engine.etcDirectory)/no-autoinstall") {
            engine.console.line("Automatic installation of modules has been disabled: nothing would be done.")
            return
        }
        let (versions, broken) = AutoinstallScheduler.newestVersions(engine.tree.status())
        for (m, v) in broken { engine.console.line("Would skip \(m)/\(v): it is broken.") }
        for (kernel, arch) in engine.kernelArchPairs {
            var queue: [AutoinstallCandidate] = []
            var done: Set<String> = []
            for (m, v) in versions {
                if engine.tree.isActive(m, v, kernel, arch) {
                    engine.console.line("\(m)/\(v) is already installed for kernel \(kernel) (\(arch)).")
                    done.insert(m)
                    continue
                }
                guard let config = await quietConf(m, v, kernel, arch) else {
                    engine.console.line("Would fail: the dkms.conf of \(m)/\(v) is not valid.")
                    continue
                }
                guard config.autoinstall else {
                    engine.console.line("Would skip \(m)/\(v): AUTOINSTALL is not set.")
                    continue
                }
                queue.append(AutoinstallCandidate(module: m, version: v,
                                                  dependencies: ShellText.words(config.buildDepends.joined(separator: " "))))
            }
            let (waves, unresolved) = AutoinstallScheduler.waves(queue, satisfied: done)
            var step = 0
            for (index, wave) in waves.enumerated() {
                engine.console.line("Would autoinstall for kernel \(kernel) (\(arch)), round \(index + 1) (built in parallel, installed in this order):")
                for candidate in wave {
                    step += 1
                    let how = engine.tree.isBuilt(candidate.module, candidate.version, kernel, arch) ? "install (already built)" : "build and install"
                    engine.console.line("  \(step). \(candidate.module)/\(candidate.version): \(how)")
                }
            }
            let satisfied = done.union(waves.joined().map(\.module))
            for candidate in unresolved {
                engine.console.line("Would not install \(candidate.module)/\(candidate.version): missing BUILD_DEPENDS \(candidate.dependencies.filter { !satisfied.contains($0) }.joined(separator: " ")).")
            }
            if step > 0 { engine.console.line("Would run depmod for kernel \(kernel) once.") }
        }
    }
}
