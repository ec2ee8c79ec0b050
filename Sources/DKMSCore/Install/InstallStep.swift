struct InstallStep: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// `maybe_install_module`: installs unless already installed (then
    /// `--force` uninstalls first, otherwise it says so and succeeds).
    func installIfNeeded(module: String, version: String, kernel: String, arch: String) async -> Int32 {
        await engine.subshell { shell throws(DKMSError) -> Int32 in
            if shell.tree.isInstalled(module, version, kernel, arch) {
                if shell.scope.force {
                    try await UninstallStep(engine: shell).uninstall(module: module, version: version, kernel: kernel, arch: arch)
                    shell.console.line()
                } else {
                    shell.console.line("Module \(module)/\(version) already installed on kernel \(kernel) (\(arch)), skip. You may override by specifying --force.")
                    return 0
                }
            }
            try await InstallStep(engine: shell).install(module: module, version: version, kernel: kernel, arch: arch)
            return 0
        }
    }

    /// Upstream's `force_installation`: /usr/share/dkms/modules_to_force_install
    /// lists modules that are always forced (`m`) or version-overridden
    /// (`m_version-override`).
    func forcedInstallation(_ module: String) -> String? {
        let dir = "/usr/share/dkms/modules_to_force_install"
        guard engine.fileSystem.isDirectory(dir) else { return nil }
        var words: [String] = []
        for name in engine.fileSystem.globEntries(of: dir) {
            words += ShellText.words(engine.fileSystem.readText("\(dir)/\(name)") ?? "")
        }
        for word in words {
            if word == module { return "force" }
            if word == module + "_version-override" { return "version-override" }
        }
        return nil
    }

    /// Upstream's `do_install`: builds if needed, checks versions against
    /// the kernel's own modules, archives originals, copies the modules
    /// into `/lib/modules/K/<dest>`, marks the version active and runs depmod.
    func install(module: String, version: String, kernel: String, arch: String) async throws(DKMSError) {
        guard !kernel.isEmpty, !arch.isEmpty else { throw DKMSError(.emptyKernelOrArch, "do_install: Empty $kernelver or $arch") }
        var module = module
        var version = version
        if !engine.tree.isBuilt(module, version, kernel, arch) {
            (module, version) = try await BuildStep(engine: engine).build(module: module, version: version, kernel: kernel, arch: arch)
        }
        KernelChoice(engine: engine).announceChosenKernels()
        // `force` is do_install's own while it installs (upstream saves and
        // restores it): the caller keeps its value, and the step's other
        // changes. A failed install leaves it as it was set, as upstream's.
        let step = Engine(nestedIn: engine, scope: engine.scope, console: engine.console)
        do {
            try await InstallStep(engine: step).installBuilt(module: module, version: version, kernel: kernel, arch: arch)
        } catch {
            engine.scope = step.scope
            throw error
        }
        engine.scope = engine.scope.after(step.scope, local: \.force)
        try await rebuildDependents(kernel: kernel, arch: arch)
    }

    /// The part of `do_install` after the build: forced installation,
    /// checks, scripts, the copy, depmod.
    private func installBuilt(module: String, version: String, kernel: String, arch: String) async throws(DKMSError) {
        let baseDir = engine.tree.builtDirectory(module, version, kernel, arch)
        let libTree = "\(installTree)/\(kernel)"
        let activeLink = engine.tree.activeLink(module, kernel, arch)
        switch forcedInstallation(module) {
        case "force":
            engine.scope.force = true
            engine.console.line("Forcing installation of \(module)")
        case "version-override":
            engine.scope.forceVersionOverride = true
            engine.console.line("Forcing version override of \(module)")
        default: break
        }
        guard engine.fileSystem.exists(libTree) else {
            throw DKMSError(.patchOrInstallFailed, "The directory \(libTree) doesn't exist.", "You cannot install a module onto a non-existent kernel.")
        }
        engine.updateModuleSuffix(for: kernel)
        let config = try await ConfReader(engine: engine).readConfOrDie(kernel: kernel, arch: arch, module: module, version: version, strict: true)
        let buildable = config.modules.indices.filter { config.isBuildable(moduleAt: $0) }
        for index in buildable {
            let name = config.modules[index].destName
            let found = engine.compressedOrUncompressed(baseDir + "/module", name)
            if found.isEmpty || !engine.fileSystem.isRegularFile(found) {
                throw DKMSError(.patchOrInstallFailed, "Missing module \(name) in \(baseDir)/module")
            }
        }
        if engine.tree.isInstalled(module, version, kernel, arch) {
            throw DKMSError(.refusedPatchOrAlreadyInstalled, "This module/version combo is already installed for kernel \(kernel) (\(arch)).")
        }
        if settings.rpmSafeUpgrade { engine.scope.force = true }

        let preInstall = try await engine.runScript(.preInstall, config.script(.preInstall), module: module, version: version, kernel: kernel, arch: arch)
        if preInstall != 0 && !engine.scope.force {
            throw DKMSError(.preInstallFailed, "pre_install failed, aborting install.", "You may override by specifying --force.")
        }

        try WritePreflight.install(destinations: buildable.map { libTree + config.modules[$0].destLocation } + [FileSystem.split(activeLink).directory],
                             module: module, version: version, fileSystem: engine.fileSystem)
        let plan = await installPlan(module: module, version: version, kernel: kernel, arch: arch, config: config) {
            [module, version] name, kernelModules, console in
            await versionIsSane(kernel: kernel, arch: arch, module: module, version: version, obsoleteBy: config.obsoleteBy,
                                name: name, kernelModules: kernelModules, console: console)
        }
        let installer = ModuleInstaller(fileSystem: engine.fileSystem, journal: engine.journal, console: engine.console)
        let entry = try installer.apply(plan)
        try await engine.runScript(.postInstall, config.script(.postInstall), module: module, version: version, kernel: kernel, arch: arch)
        await engine.depmodAfterChange(kernel: kernel, arch: arch)
        installer.commit(entry)
        if settings.modprobeOnInstall && kernel == settings.runningKernel {
            _ = await runner.run(ProcessSpec(
                Shell.bash, ["-c", "find /sys/devices -name modalias -print0 | xargs -0 cat | sort -u | xargs modprobe -a -b -q; if [[ -f /lib/systemd/system/systemd-modules-load.service ]]; then systemctl restart systemd-modules-load.service; fi"],
                environment: engine.childEnvironment))
        }
    }

    /// The plan to install a version's buildable modules into `kernel`,
    /// from its built modules (`install` carries it out, `--dry-run` shows it).
    func installPlan(module: String, version: String, kernel: String, arch: String, config: ModuleConfig,
                     sanity: InstallPlanner.SanityCheck) async -> InstallPlan {
        await InstallPlanner(fileSystem: engine.fileSystem, compressedSuffix: engine.scope.compressedSuffix).plan(
            module: module, version: version, kernel: kernel, arch: arch,
            modules: config.modules.indices.filter { config.isBuildable(moduleAt: $0) }.map {
                InstallPlanner.Module(name: config.modules[$0].destName, location: config.modules[$0].destLocation)
            },
            moduleDirectory: engine.tree.builtDirectory(module, version, kernel, arch) + "/module",
            kernelDirectory: "\(installTree)/\(kernel)", originals: engine.tree.originalModulesDirectory(module, kernel, arch),
            activeLink: engine.tree.activeLink(module, kernel, arch), symlinks: settings.symlinkModules,
            requiresAModule: !config.modules.isEmpty, sanity: sanity)
    }

    /// Upstream's `check_version_sanity`: refuses to replace a newer or
    /// identical module already in the kernel tree (unless forced), and an
    /// obsoleted module.
    /// - Parameters:
    ///   - kernelModules: the kernel's files of the module's name (`find_module`).
    ///   - console: where its refusals are printed.
    func versionIsSane(kernel: String, arch: String, module: String, version: String, obsoleteBy: String, name: String,
                       kernelModules: [String], console: any Console) async -> Bool {
        if !obsoleteBy.isEmpty, isObsoleted(kernel: kernel, by: obsoleteBy) {
            console.errorLine()
            console.errorLine("Module has been obsoleted due to being included in kernel \(obsoleteBy).")
            console.errorLine("We will avoid installing for future kernels above \(obsoleteBy).")
            console.errorLine("You may override by specifying --force.")
            return false
        }
        guard let kernelsModule = kernelModules.first else { return true }
        if engine.scope.forceVersionOverride { return true }
        if kernelsModule.contains(" ") {
            console.warning("Cannot do version sanity checking because multiple \(name)\(engine.moduleSuffix) modules were found in kernel \(kernel).")
            return true
        }
        let dkmsModule = engine.compressedOrUncompressed(engine.tree.builtDirectory(module, version, kernel, arch) + "/module", name)
        let theirs = await engine.moduleVersionInfo(kernelsModule)
        let ours = await engine.moduleVersionInfo(dkmsModule)
        switch theirs.compare(to: ours) {
        case .newer where !engine.scope.force:
            console.error("Module version \(ours.version) for \(name)\(engine.moduleSuffix)",
                          "is not newer than what is already found in kernel \(kernel) (\(theirs.version)).",
                          "You may override by specifying --force.")
            return false
        case .identical where !engine.scope.force:
            let hasInfo = !(ours.version + ours.sourceVersion).isEmpty
            if hasInfo || engine.fileSystem.sameContent(kernelsModule, dkmsModule) {
                if !ours.version.isEmpty {
                    console.errorLine("Module \(kernelsModule) already installed at version \(ours.version), override by specifying --force")
                } else {
                    console.errorLine("Module \(kernelsModule) already installed (unversioned module), override by specifying --force")
                }
                return false
            }
            return true
        default:
            return true
        }
    }

    /// The OBSOLETE_BY test of `check_version_sanity`. Upstream splits the
    /// versions at dashes into one quoted word, so only the padded
    /// comparison of the whole strings counts: obsolete from that kernel on.
    func isObsoleted(kernel: String, by obsoleteBy: String) -> Bool {
        guard !engine.scope.force else { return false }
        let obsolete = VersionKey(obsoleteBy.replacingOccurrences(of: "-", with: " "))
        let mine = VersionKey(kernel.replacingOccurrences(of: "-", with: " "))
        return mine >= obsolete
    }

    /// Upstream's `check_and_rebuild_dependent_modules`: after an install,
    /// rebuilds modules with BUILD_DEPENDS_REBUILD whose dependencies
    /// changed version since they were built.
    func rebuildDependents(kernel: String, arch: String) async throws(DKMSError) {
        var toRebuild: [(String, String)] = []
        for record in engine.tree.status() {
            guard case .built(let m, let v, let k, let a, _) = record, k == kernel, a == arch else { continue }
            let config = try await ConfReader(engine: engine).readConfOrDie(kernel: kernel, arch: arch, module: m, version: v)
            if config.buildDepends.isEmpty || !config.rebuildOnDependencyChange || engine.scope.force { continue }
            _ = try await ConfReader(engine: engine).readConfOrDie(kernel: kernel, arch: arch, module: m, version: v, strict: true)
            var updated = false
            for dependency in config.buildDepends {
                let versions = engine.tree.status(module: dependency, kernel: kernel, arch: arch).map(\.version)
                guard let latest = VersionSort.sorted(versions).last, !latest.isEmpty else { continue }
                let file = "\(engine.tree.builtDirectory(m, v, kernel, arch))/.dep_\(dependency)"
                if let recorded = engine.fileSystem.readText(file) {
                    if recorded.trimmingTrailingNewlines() != latest { updated = true; break }
                } else {
                    updated = true
                    break
                }
            }
            if updated { toRebuild.append((m, v)) }
        }
        for (m, v) in toRebuild {
            let config = try await ConfReader(engine: engine).readConfOrDie(kernel: kernel, arch: arch, module: m, version: v)
            guard !config.buildDepends.isEmpty else { continue }
            engine.console.line()
            engine.console.line("Rebuilding module \(m)/\(v) due to updated dependencies")
            engine.console.line()
            engine.scope.module = m
            engine.scope.version = v
            try await UninstallStep(engine: engine).uninstall(module: m, version: v, kernel: kernel, arch: arch)
            UninstallStep(engine: engine).unbuildDirectory(module: m, version: v, kernel: kernel, arch: arch)
            try await BuildStep(engine: engine).build(module: m, version: v, kernel: kernel, arch: arch)
            try await install(module: m, version: v, kernel: kernel, arch: arch)
        }
    }
}
