struct UninstallStep: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// `possible_dest_module_locations` + `find_actual_dest_module_location`:
    /// where the installed copy of module `index` really is, judged by
    /// comparing its version with the active build's copy.
    func actualDestination(_ config: ModuleConfig, index: Int, module: String, kernel: String, arch: String) async -> String? {
        var files: ModuleFileContents?
        return await actualDestination(config, index: index, module: module, kernel: kernel, arch: arch, files: &files)
    }

    /// ``actualDestination(_:index:module:kernel:arch:)`` reading the module
    /// files through `files` when given (status compares them afterwards).
    func actualDestination(_ config: ModuleConfig, index: Int, module: String, kernel: String, arch: String,
                           files: inout ModuleFileContents?) async -> String? {
        let entry = config.modules[index]
        var locations = [entry.destLocation]
        if entry.declaredDestLocation != entry.destLocation { locations.append(entry.declaredDestLocation) }
        let owned = engine.compressedOrUncompressed(engine.tree.activeLink(module, kernel, arch) + "/module", entry.destName)
        let ownedInfo = await engine.moduleVersionInfo(owned, showErrors: false, files: &files)
        for location in ShellText.words(locations.joined(separator: " ")) {
            let installed = engine.compressedOrUncompressed("\(installTree)/\(kernel)\(location)", entry.destName)
            guard !installed.isEmpty else { continue }
            let installedInfo = await engine.moduleVersionInfo(installed, showErrors: false, files: &files)
            if ownedInfo.version == installedInfo.version { return location }
        }
        return nil
    }

    /// `maybe_uninstall_module`: uninstalls when this version is installed,
    /// otherwise says it is not (unless BUILD_EXCLUSIVE explains it).
    func uninstallIfNeeded(module: String, version: String, kernel: String, arch: String) async throws(DKMSError) {
        if engine.tree.isInstalled(module, version, kernel, arch) {
            try await uninstall(module: module, version: version, kernel: kernel, arch: arch)
            return
        }
        var excluded = false
        let conf = engine.tree.confFile(module, version)
        if engine.fileSystem.isRegularFile(conf) {
            // Upstream keeps its last read (`last_mvka`) across this one.
            let step = Engine(nestedIn: engine, scope: engine.scope, console: engine.console)
            if let (config, _) = try? await ConfReader(engine: step).readConf(kernel: kernel, arch: arch, module: module, version: version, file: conf, quiet: true) {
                excluded = config.modules.indices.contains { config.hasModuleExclusiveDirective($0) }
            }
            engine.scope = engine.scope.after(step.scope, local: \.lastConf)
        }
        if !excluded {
            engine.console.line("Module \(module)/\(version) is not installed for kernel \(kernel) (\(arch)). Skipping...")
        }
    }

    /// Upstream's `do_uninstall`: removes the installed modules of this
    /// version, restores archived originals and runs depmod.
    func uninstall(module: String, version: String, kernel: String, arch: String) async throws(DKMSError) {
        let backupDir = engine.tree.originalModulesDirectory(module, kernel, arch)
        engine.console.line("Module \(module)/\(version) for kernel \(kernel) (\(arch)):")
        engine.updateModuleSuffix(for: kernel)
        let config = try await ConfReader(engine: engine).readConfOrDie(kernel: kernel, arch: arch, module: module, version: version)
        let activeLink = engine.tree.activeLink(module, kernel, arch)
        let wasActive = engine.fileSystem.canonicalPath(activeLink) == engine.tree.builtDirectory(module, version, kernel, arch)
        var entry: Journal.Entry?
        let uninstaller = ModuleUninstaller(fileSystem: engine.fileSystem, journal: engine.journal, console: engine.console)
        if wasActive {
            engine.console.line("Before uninstall, this module version was ACTIVE on this kernel.")
            // Plan every removal and restoration first, and journal it, so a
            // command killed half way is completed by the next one.
            let plan = await uninstallPlan(module: module, version: version, kernel: kernel, arch: arch, config: config)
            try WritePreflight.uninstall(plan.journalSteps, module: module, version: version, fileSystem: engine.fileSystem)
            entry = try uninstaller.apply(plan)
        } else {
            engine.console.line("This module version was INACTIVE for this kernel.")
        }
        try await engine.runScript(.postRemove, config.script(.postRemove), module: module, version: version, kernel: kernel, arch: arch)
        await engine.depmodAfterChange(kernel: kernel, arch: arch)
        let originals = engine.tree.originalModulesDirectory(module)
        if wasActive && engine.fileSystem.isDirectory("\(originals)/\(kernel)/\(arch)") {
            engine.console.line("Removing original module(s) from DKMS tree for kernel \(kernel) (\(arch))")
            engine.fileSystem.removeTree("\(originals)/\(kernel)/\(arch)")
            if !engine.fileSystem.globEntries(of: "\(originals)/\(kernel)").contains(where: { engine.fileSystem.isDirectory("\(originals)/\(kernel)/\($0)") }) {
                engine.fileSystem.removeTree("\(originals)/\(kernel)")
            }
        }
        if !engine.fileSystem.globEntries(of: originals).contains(where: { engine.fileSystem.isDirectory("\(originals)/\($0)") }) {
            engine.fileSystem.removeTree(originals)
        }
        if let entry { uninstaller.commit(entry) }
    }

    /// The plan to uninstall a version's modules from `kernel`: where each
    /// installed copy really is, its files, the originals that go back.
    func uninstallPlan(module: String, version: String, kernel: String, arch: String, config: ModuleConfig) async -> UninstallPlan {
        let kernelDir = "\(installTree)/\(kernel)"
        let backupDir = engine.tree.originalModulesDirectory(module, kernel, arch)
        let originals = ArchivedOriginals(fileSystem: engine.fileSystem)
        var listings = InstalledFileListings(fileSystem: engine.fileSystem)
        var steps: [UninstallPlan.Step] = []
        for index in config.modules.indices {
            let name = config.modules[index].destName
            let location = await actualDestination(config, index: index, module: module, kernel: kernel, arch: arch)
            let files = location.map { location in listings.files(in: kernelDir + location, named: name).map { "\(kernelDir)\(location)/\($0)" } } ?? []
            steps.append(UninstallPlan.Step(
                name: name, location: location, files: files,
                originals: originals.of(name, in: backupDir),
                declaredLocation: config.modules[index].declaredDestLocation))
        }
        return UninstallPlan(module: module, version: version, kernel: kernel, arch: arch, kernelDirectory: kernelDir,
                             originals: backupDir, activeLink: engine.tree.activeLink(module, kernel, arch),
                             compressedSuffix: engine.scope.compressedSuffix, steps: steps)
    }

    /// Upstream's `do_unbuild`: deletes `m/v/K/A`, and `m/v/K` when it
    /// holds no other arch.
    func unbuildDirectory(module: String, version: String, kernel: String, arch: String) {
        let kernelDir = engine.tree.kernelDirectory(module, version, kernel)
        engine.fileSystem.retire(engine.tree.builtDirectory(module, version, kernel, arch), to: "\(kernelDir)/.tmp_unbuild_\(arch)")
        if !engine.fileSystem.globEntries(of: kernelDir).contains(where: { engine.fileSystem.isDirectory("\(kernelDir)/\($0)") }) {
            engine.fileSystem.removeTree(kernelDir)
        }
    }

    /// `maybe_unbuild_module`.
    func unbuildIfNeeded(module: String, version: String, kernel: String, arch: String) {
        guard engine.tree.isBuilt(module, version, kernel, arch) else {
            engine.console.line("Module \(module)/\(version) is not built for kernel \(kernel) (\(arch)). Skipping...")
            return
        }
        unbuildDirectory(module: module, version: version, kernel: kernel, arch: arch)
    }
}

/// The files of install directories, each directory listed once, by the
/// module name they belong to (`NAME.ko`, `NAME.ko.xz`...: every name that
/// starts with `NAME.ko`). An uninstall of a package of hundreds of modules
/// that share `/extra` would otherwise list that directory for every module.
struct InstalledFileListings {
    /// Where the directories are listed.
    let fileSystem: any FileSystemAccess
    private var byDirectory: [String: [String: [String]]] = [:]

    init(fileSystem: any FileSystemAccess) {
        self.fileSystem = fileSystem
    }

    /// The entries of `directory` whose name starts with `name.ko`, in
    /// directory order.
    mutating func files(in directory: String, named name: String) -> [String] {
        if byDirectory[directory] == nil {
            var byModule: [String: [String]] = [:]
            for file in fileSystem.entries(of: directory) {
                // Every prefix that ends right before a ".ko" is a module name this file belongs to.
                var index = file.startIndex
                while index < file.endIndex {
                    if file[index...].hasPrefix(".ko") {
                        byModule[String(file[..<index]), default: []].append(file)
                    }
                    index = file.index(after: index)
                }
            }
            byDirectory[directory] = byModule
        }
        return byDirectory[directory]?[name] ?? []
    }
}
