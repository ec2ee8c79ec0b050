extension Engine {
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
        let owned = compressedOrUncompressed(tree.activeLink(module, kernel, arch) + "/module", entry.destName)
        let ownedInfo = await moduleVersionInfo(owned, showErrors: false, files: &files)
        for location in ShellText.words(locations.joined(separator: " ")) {
            let installed = compressedOrUncompressed("\(installTree)/\(kernel)\(location)", entry.destName)
            guard !installed.isEmpty else { continue }
            let installedInfo = await moduleVersionInfo(installed, showErrors: false, files: &files)
            if ownedInfo.version == installedInfo.version { return location }
        }
        return nil
    }

    /// `maybe_uninstall_module`: uninstalls when this version is installed,
    /// otherwise says it is not (unless BUILD_EXCLUSIVE explains it).
    func uninstallIfNeeded(module: String, version: String, kernel: String, arch: String) async throws(DKMSError) {
        if tree.isInstalled(module, version, kernel, arch) {
            try await uninstall(module: module, version: version, kernel: kernel, arch: arch)
            return
        }
        var excluded = false
        let conf = tree.confFile(module, version)
        if FileSystem.isRegularFile(conf) {
            let savedKey = state.lastConfKey, savedConfig = state.lastConfig
            if let (config, _) = try? await readConf(kernel: kernel, arch: arch, module: module, version: version, file: conf, quiet: true) {
                excluded = config.modules.indices.contains { config.hasModuleExclusiveDirective($0) }
            }
            state.lastConfKey = savedKey
            state.lastConfig = savedConfig
        }
        if !excluded {
            console.line("Module \(module)/\(version) is not installed for kernel \(kernel) (\(arch)). Skipping...")
        }
    }

    /// Upstream's `do_uninstall`: removes the installed modules of this
    /// version, restores archived originals and runs depmod.
    func uninstall(module: String, version: String, kernel: String, arch: String) async throws(DKMSError) {
        let backupDir = tree.originalModulesDirectory(module, kernel, arch)
        console.line("Module \(module)/\(version) for kernel \(kernel) (\(arch)):")
        updateModuleSuffix(for: kernel)
        let config = try await readConfOrDie(kernel: kernel, arch: arch, module: module, version: version)
        let activeLink = tree.activeLink(module, kernel, arch)
        let wasActive = FileSystem.canonicalPath(activeLink) == tree.builtDirectory(module, version, kernel, arch)
        var entry: Journal.Entry?
        if wasActive {
            console.line("Before uninstall, this module version was ACTIVE on this kernel.")
            let kernelDir = "\(installTree)/\(kernel)"
            // Plan every removal and restoration first, and journal it, so a
            // command killed half way is completed by the next one.
            var locations: [String?] = []
            var plan: [[String]] = []
            var listings = InstalledFileListings()
            for index in config.modules.indices {
                let name = config.modules[index].destName
                let location = await actualDestination(config, index: index, module: module, kernel: kernel, arch: arch)
                locations.append(location)
                if let location {
                    for file in listings.files(in: kernelDir + location, named: name) {
                        plan.append(["delete", "\(kernelDir)\(location)/\(file)"])
                    }
                }
                for (archived, origin) in archivedOriginals(named: name, in: backupDir, kernel: kernel)
                where origin.hasPrefix("\(installTree)/\(kernel)/") {
                    plan.append(["restore", archived, origin])
                }
            }
            plan.append(["unlink", activeLink])
            try WritePreflight.uninstall(plan, module: module, version: version)
            let uninstallEntry = journal.begin("uninstall", module: module, version: version, kernel: kernel, arch: arch)
            uninstallEntry.recordAll(plan)
            if uninstallEntry.failure != nil {
                // Nothing done yet: drop the entry (or what of it was written).
                journal.commit(uninstallEntry)
                try uninstallEntry.requireRecorded()
            }
            entry = uninstallEntry
            for index in config.modules.indices {
                let name = config.modules[index].destName
                if let location = locations[index] {
                    console.line("Deleting \(kernelDir)\(location)/\(name)\(moduleSuffix)")
                    let dir = kernelDir + location
                    for file in listings.files(in: dir, named: name) {
                        FileSystem.removeFile("\(dir)/\(file)")
                    }
                    removeEmptyParents(of: location, in: kernelDir)
                } else {
                    console.line("Module \(name)\(moduleSuffix) was not found within \(installTree)/\(kernel)/")
                }
                if FileSystem.isDirectory(backupDir) {
                    if let failed = restoreOriginals(named: name, from: backupDir, kernel: kernel) {
                        // The journal keeps the plan: the next command finishes it.
                        throw DKMSError(.patchOrInstallFailed, "Restoring the original module \(failed) failed.",
                                        "The archived copy is kept in \(backupDir); the next dkms command retries.")
                    }
                    FileSystem.deleteEmptyDirectories(under: FileSystem.split(backupDir).directory)
                }
                let legacy = compressedOrUncompressed(backupDir, name)
                if !legacy.isEmpty {
                    console.line("Restoring archived original module")
                    let target = "\(installTree)/\(kernel)\(config.modules[index].declaredDestLocation)/"
                    uninstallEntry.record("restore", legacy, target + FileSystem.split(legacy).name)
                    try uninstallEntry.requireRecorded()
                    FileSystem.makeDirectories(target)
                    FileSystem.move(legacy, to: target + FileSystem.split(legacy).name)
                }
            }
            FileSystem.removeFile(activeLink)
        } else {
            console.line("This module version was INACTIVE for this kernel.")
        }
        try await runScript(.postRemove, config.script(.postRemove), module: module, version: version, kernel: kernel, arch: arch)
        await depmodAfterChange(kernel: kernel, arch: arch)
        let originals = tree.originalModulesDirectory(module)
        if wasActive && FileSystem.isDirectory("\(originals)/\(kernel)/\(arch)") {
            console.line("Removing original module(s) from DKMS tree for kernel \(kernel) (\(arch))")
            FileSystem.removeTree("\(originals)/\(kernel)/\(arch)")
            if !FileSystem.globEntries(of: "\(originals)/\(kernel)").contains(where: { FileSystem.isDirectory("\(originals)/\(kernel)/\($0)") }) {
                FileSystem.removeTree("\(originals)/\(kernel)")
            }
        }
        if !FileSystem.globEntries(of: originals).contains(where: { FileSystem.isDirectory("\(originals)/\($0)") }) {
            FileSystem.removeTree(originals)
        }
        if let entry { journal.commit(entry) }
    }

    /// `rmdir -p --ignore-fail-on-non-empty` of a destination below the kernel dir.
    func removeEmptyParents(of location: String, in kernelDir: String) {
        var relative = Substring(location)
        while relative.hasPrefix("/") { relative = relative.dropFirst() }
        var parts = relative.split(separator: "/").map(String.init)
        while !parts.isEmpty {
            let path = kernelDir + "/" + parts.joined(separator: "/")
            guard FileSystem.removeDirectory(path) else { break }
            parts.removeLast()
        }
    }

    /// The archived originals of a module and where their `.origin` files
    /// say they belong (only places inside the kernel's module directory).
    func archivedOriginals(named name: String, in backupDir: String, kernel: String) -> [(archived: String, origin: String)] {
        guard FileSystem.isDirectory(backupDir) else { return [] }
        let originFiles = FileSystem.findFiles(under: backupDir) { file in
            file.hasPrefix(name + ".") && file.hasSuffix(".origin") && file.count > name.count + ".origin".count
        }
        return originFiles.compactMap { originFile in
            let archived = String(originFile.dropLast(".origin".count))
            guard FileSystem.isRegularFile(archived) else { return nil }
            let location = (FileSystem.readText(originFile) ?? "").split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
            return (archived, location)
        }
    }

    /// Puts archived originals back where their `.origin` file says.
    /// - Returns: the first original that could not be put back (its archived
    ///   copy and `.origin` are kept), or nil.
    @discardableResult
    func restoreOriginals(named name: String, from backupDir: String, kernel: String) -> String? {
        var failed: String?
        for (archived, location) in archivedOriginals(named: name, in: backupDir, kernel: kernel) {
            if location.hasPrefix("\(installTree)/\(kernel)/") {
                console.line("Restoring archived original module \(location)")
                FileSystem.makeDirectories(FileSystem.split(location).directory)
                guard FileSystem.move(archived, to: location) else {
                    if failed == nil { failed = location }
                    continue
                }
                FileSystem.removeFile(archived + ".origin")
            } else {
                console.warning("Bad original location '\(location)' in \(archived).origin")
            }
        }
        return failed
    }

    /// Upstream's `do_unbuild`: deletes `m/v/K/A`, and `m/v/K` when it
    /// holds no other arch.
    func unbuildDirectory(module: String, version: String, kernel: String, arch: String) {
        let kernelDir = tree.kernelDirectory(module, version, kernel)
        FileSystem.retire(tree.builtDirectory(module, version, kernel, arch), to: "\(kernelDir)/.tmp_unbuild_\(arch)")
        if !FileSystem.globEntries(of: kernelDir).contains(where: { FileSystem.isDirectory("\(kernelDir)/\($0)") }) {
            FileSystem.removeTree(kernelDir)
        }
    }

    /// `maybe_unbuild_module`.
    func unbuildIfNeeded(module: String, version: String, kernel: String, arch: String) {
        guard tree.isBuilt(module, version, kernel, arch) else {
            console.line("Module \(module)/\(version) is not built for kernel \(kernel) (\(arch)). Skipping...")
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
    private var byDirectory: [String: [String: [String]]] = [:]

    /// The entries of `directory` whose name starts with `name.ko`, in
    /// directory order.
    mutating func files(in directory: String, named name: String) -> [String] {
        if byDirectory[directory] == nil {
            var byModule: [String: [String]] = [:]
            for file in FileSystem.entries(of: directory) {
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
