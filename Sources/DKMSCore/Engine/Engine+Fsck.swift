extension Engine {
    /// `dkms fsck`: finds what interrupted commands or manual changes left
    /// inconsistent and repairs it, saying what it did. The interrupted
    /// transactions in the journal were already settled when the tree lock
    /// was taken.
    func fsck() async {
        var repairs: [String] = []
        func repaired(_ text: String) {
            repairs.append(text)
            console.line(text)
        }
        var touchedKernels: Set<String> = []

        for name in FileSystem.entries(of: sourceTree) where name.hasPrefix(".tmp_") {
            FileSystem.removeTree("\(sourceTree)/\(name)")
            repaired("Removed the partial source copy \(sourceTree)/\(name).")
        }
        for module in FileSystem.globEntries(of: dkmsTree) where FileSystem.isDirectory(tree.moduleDirectory(module)) {
            let moduleDir = tree.moduleDirectory(module)
            for name in FileSystem.entries(of: moduleDir) where name.hasPrefix(".tmp_") {
                FileSystem.removeTree("\(moduleDir)/\(name)")
                repaired("Removed the leftover temporary directory \(moduleDir)/\(name).")
            }
            for version in FileSystem.globEntries(of: moduleDir)
            where version != "original_module" && !DKMSTree.isActiveLinkName(version) && FileSystem.isDirectory("\(moduleDir)/\(version)") {
                await checkVersion(module: module, version: version, repaired: repaired, touched: &touchedKernels)
            }
            for name in FileSystem.globEntries(of: moduleDir) where DKMSTree.isActiveLinkName(name) {
                let link = "\(moduleDir)/\(name)"
                guard let target = FileSystem.canonicalPath(link), FileSystem.isDirectory(target + "/module") else {
                    FileSystem.removeFile(link)
                    repaired("Removed \(link): it pointed to no built module.")
                    continue
                }
            }
            if FileSystem.isDirectory(moduleDir) && FileSystem.globEntries(of: moduleDir).isEmpty {
                FileSystem.removeTree(moduleDir)
            }
        }
        for path in FileSystem.findFiles(under: dkmsTree, where: { $0.hasPrefix(".") && $0.contains(".dkms-new.") }) {
            FileSystem.removeFile(path)
            repaired("Removed the partial copy \(path).")
        }
        for record in tree.status() {
            guard case .built(let m, let v, let k, let a, .installed) = record else { continue }
            if await reinstallMissingFiles(module: m, version: v, kernel: k, arch: a, repaired: repaired) {
                touchedKernels.insert(k)
            }
        }
        for kernel in FileSystem.globEntries(of: installTree) where FileSystem.isDirectory("\(installTree)/\(kernel)") {
            if removeOrphanedModules(kernel: kernel, repaired: repaired) { touchedKernels.insert(kernel) }
        }
        for kernel in touchedKernels.sorted() {
            _ = await depmod(kernel: kernel, output: CommandOutput(output: .discard, error: .discard))
        }
        if repairs.isEmpty { console.line("No problems found in \(dkmsTree).") }
    }

    /// Puts back the module files an installed version is missing in the
    /// kernel's module directory (from its built copies).
    /// - Returns: whether anything was copied.
    private func reinstallMissingFiles(module: String, version: String, kernel: String, arch: String,
                                       repaired: (String) -> Void) async -> Bool {
        guard let config = await quietConf(module, version, kernel, arch) else { return false }
        updateModuleSuffix(for: kernel)
        var copied = false
        for index in config.modules.indices where config.isBuildable(moduleAt: index) {
            let entry = config.modules[index]
            let built = compressedOrUncompressed(tree.builtDirectory(module, version, kernel, arch) + "/module", entry.destName)
            guard !built.isEmpty else { continue }
            let locations = [entry.destLocation, entry.declaredDestLocation]
            let present = locations.contains { !compressedOrUncompressed("\(installTree)/\(kernel)\($0)", entry.destName).isEmpty }
            if present { continue }
            let target = "\(installTree)/\(kernel)\(entry.destLocation)/\(FileSystem.split(built).name)"
            FileSystem.makeDirectories(FileSystem.split(target).directory)
            if FileSystem.copyFileAtomically(from: built, to: target) {
                repaired("Reinstalled the missing \(target) of \(module)/\(version).")
                copied = true
            }
        }
        return copied
    }

    /// Checks one module version: its source link, leftover temporary
    /// directories, built directories without modules.
    private func checkVersion(module: String, version: String, repaired: (String) -> Void, touched: inout Set<String>) async {
        let versionDir = tree.versionDirectory(module, version)
        let source = versionDir + "/source"
        let expected = "\(sourceTree)/\(module)-\(version)"
        if !FileSystem.isSymlink(source) || !FileSystem.isDirectory(source) {
            if FileSystem.isDirectory(expected) && !FileSystem.isDirectory(source) {
                FileSystem.removeTree(source)
                FileSystem.symlink(target: expected, at: source)
                repaired("Re-created the source link of \(module)/\(version) to \(expected).")
            } else if !FileSystem.isDirectory(source) {
                for entry in tree.builtEntries(module, version) where entry.state == .installed {
                    await uninstallWithoutConf(module: module, version: version, kernel: entry.kernel, arch: entry.arch)
                    touched.insert(entry.kernel)
                }
                FileSystem.retire(versionDir, to: tree.retiredVersionDirectory(module, version))
                repaired("Removed \(module)/\(version): its source directory is gone.")
                return
            }
        }
        for name in FileSystem.entries(of: versionDir) where name.hasPrefix(".build_") {
            FileSystem.removeTree("\(versionDir)/\(name)")
            repaired("Removed the leftover build directory \(versionDir)/\(name).")
        }
        for kernel in FileSystem.globEntries(of: versionDir) where DKMSTree.looksLikeKernel(kernel) {
            let kernelDir = "\(versionDir)/\(kernel)"
            for name in FileSystem.entries(of: kernelDir) where name.hasPrefix(".tmp_") {
                FileSystem.removeTree("\(kernelDir)/\(name)")
                repaired("Removed the leftover temporary directory \(kernelDir)/\(name).")
            }
            for arch in FileSystem.globEntries(of: kernelDir) where !FileSystem.isDirectory("\(kernelDir)/\(arch)/module") {
                FileSystem.removeTree("\(kernelDir)/\(arch)")
                repaired("Removed the incomplete build \(kernelDir)/\(arch).")
            }
            if FileSystem.entries(of: kernelDir).isEmpty { FileSystem.removeDirectory(kernelDir) }
        }
    }

    /// Uninstalls an installed version whose dkms.conf is gone: every
    /// module file of the build is removed from where it was installed and
    /// archived originals go back.
    private func uninstallWithoutConf(module: String, version: String, kernel: String, arch: String) async {
        let built = tree.builtDirectory(module, version, kernel, arch) + "/module"
        let kernelDir = "\(installTree)/\(kernel)"
        for file in FileSystem.entries(of: built) where file.contains(".ko") {
            for path in FileSystem.findFiles(under: kernelDir, where: { $0 == file }) where FileSystem.sameContent(path, "\(built)/\(file)") {
                FileSystem.removeFile(path)
            }
        }
        let backupDir = tree.originalModulesDirectory(module, kernel, arch)
        for origin in FileSystem.findFiles(under: backupDir, where: { $0.hasSuffix(".origin") }) {
            let archived = String(origin.dropLast(".origin".count))
            let location = (FileSystem.readText(origin) ?? "").trimmingTrailingNewlines()
            if location.hasPrefix(kernelDir + "/") && !FileSystem.exists(location) {
                FileSystem.makeDirectories(FileSystem.split(location).directory)
                FileSystem.move(archived, to: location)
            }
        }
        FileSystem.removeTree(backupDir)
        FileSystem.removeFile(tree.activeLink(module, kernel, arch))
    }

    /// Removes module files in the kernel's dkms destination that no
    /// installed dkms module owns, and temporary files of interrupted copies.
    /// - Returns: whether anything was removed.
    private func removeOrphanedModules(kernel: String, repaired: (String) -> Void) -> Bool {
        let kernelDir = "\(installTree)/\(kernel)"
        var owned: Set<String> = []
        for module in FileSystem.globEntries(of: dkmsTree) {
            for link in FileSystem.globEntries(of: tree.moduleDirectory(module)) where link.hasPrefix("kernel-\(kernel)-") {
                guard let target = FileSystem.canonicalPath(tree.versionDirectory(module, link)) else { continue }
                for file in FileSystem.entries(of: target + "/module") { owned.insert(file) }
            }
        }
        var removed = false
        // Only a destination that belongs to dkms alone (Debian's
        // /updates/dkms) can hold orphans; /extra is shared with packages.
        let location = settings.destinationPolicy.location(for: "/updates/dkms")
        let destination = kernelDir + location
        for path in FileSystem.findFiles(under: destination, where: { $0.contains(".ko") }) {
            let name = FileSystem.split(path).name
            if name.hasPrefix(".") && name.contains(".dkms-new.") {
                FileSystem.removeFile(path)
                repaired("Removed the partial copy \(path).")
                removed = true
            } else if location.hasSuffix("/dkms") && !owned.contains(name) {
                FileSystem.removeFile(path)
                repaired("Removed \(path): no installed dkms module owns it.")
                removed = true
            }
        }
        if removed { FileSystem.deleteEmptyDirectories(under: destination) }
        return removed
    }
}
