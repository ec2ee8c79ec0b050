/// The repairs of `dkms fsck` that need nothing but the trees: leftovers of
/// interrupted commands (partial source copies, temporary and private build
/// directories, half-written module copies), versions whose source is
/// gone, incomplete builds, dangling active links, and module files in
/// dkms' own destination that no installed module owns. Each repair is
/// reported through `repaired` as it is made.
///
/// What needs a module's dkms.conf (putting back missing installed files)
/// and depmod stay with ``FsckAction/fsck()``.
struct TreeRepair {
    /// The dkms tree.
    var tree: DKMSTree
    /// The file system the trees are read and changed through (the tree's).
    var fileSystem: any FileSystemAccess { tree.fileSystem }
    /// The kernels' module trees (`/lib/modules`).
    var installTree: String
    /// Where dkms alone installs within a kernel's modules (Debian's
    /// `/updates/dkms`, as the destination policy places it).
    var dkmsOnlyLocation: String

    /// Removes what interrupted commands left and what no longer belongs
    /// to a version, throughout the dkms and source trees.
    /// - Returns: the kernels whose installed modules changed.
    func removeLeftovers(repaired: (String) -> Void) -> Set<String> {
        let sourceTree = tree.sourceTree
        var touchedKernels: Set<String> = []
        for name in fileSystem.entries(of: sourceTree) where name.hasPrefix(".tmp_") {
            fileSystem.removeTree("\(sourceTree)/\(name)")
            repaired("Removed the partial source copy \(sourceTree)/\(name).")
        }
        for module in fileSystem.globEntries(of: tree.root) where fileSystem.isDirectory(tree.moduleDirectory(module)) {
            let moduleDir = tree.moduleDirectory(module)
            for name in fileSystem.entries(of: moduleDir) where name.hasPrefix(".tmp_") {
                fileSystem.removeTree("\(moduleDir)/\(name)")
                repaired("Removed the leftover temporary directory \(moduleDir)/\(name).")
            }
            for version in fileSystem.globEntries(of: moduleDir)
            where version != "original_module" && !DKMSTree.isActiveLinkName(version) && fileSystem.isDirectory("\(moduleDir)/\(version)") {
                touchedKernels.formUnion(checkVersion(module: module, version: version, repaired: repaired))
            }
            for name in fileSystem.globEntries(of: moduleDir) where DKMSTree.isActiveLinkName(name) {
                let link = "\(moduleDir)/\(name)"
                guard let target = fileSystem.canonicalPath(link), fileSystem.isDirectory(target + "/module") else {
                    fileSystem.removeFile(link)
                    repaired("Removed \(link): it pointed to no built module.")
                    continue
                }
            }
            if fileSystem.isDirectory(moduleDir) && fileSystem.globEntries(of: moduleDir).isEmpty {
                fileSystem.removeTree(moduleDir)
            }
        }
        for path in fileSystem.findFiles(under: tree.root, where: { $0.hasPrefix(".") && $0.contains(".dkms-new.") }) {
            fileSystem.removeFile(path)
            repaired("Removed the partial copy \(path).")
        }
        return touchedKernels
    }

    /// The kernels with a directory in the install tree, in glob order.
    var installedKernels: [String] {
        fileSystem.globEntries(of: installTree).filter { fileSystem.isDirectory("\(installTree)/\($0)") }
    }

    /// Checks one module version: its source link, leftover temporary
    /// directories, built directories without modules.
    /// - Returns: the kernels it was uninstalled from (its source is gone).
    private func checkVersion(module: String, version: String, repaired: (String) -> Void) -> Set<String> {
        let versionDir = tree.versionDirectory(module, version)
        let source = versionDir + "/source"
        let expected = "\(tree.sourceTree)/\(module)-\(version)"
        if !fileSystem.isSymlink(source) || !fileSystem.isDirectory(source) {
            if fileSystem.isDirectory(expected) && !fileSystem.isDirectory(source) {
                fileSystem.removeTree(source)
                fileSystem.symlink(target: expected, at: source)
                repaired("Re-created the source link of \(module)/\(version) to \(expected).")
            } else if !fileSystem.isDirectory(source) {
                var touched: Set<String> = []
                for entry in tree.builtEntries(module, version) where entry.state == .installed {
                    uninstallWithoutConf(module: module, version: version, kernel: entry.kernel, arch: entry.arch)
                    touched.insert(entry.kernel)
                }
                fileSystem.retire(versionDir, to: tree.retiredVersionDirectory(module, version))
                repaired("Removed \(module)/\(version): its source directory is gone.")
                return touched
            }
        }
        for name in fileSystem.entries(of: versionDir) where name.hasPrefix(".build_") {
            fileSystem.removeTree("\(versionDir)/\(name)")
            repaired("Removed the leftover build directory \(versionDir)/\(name).")
        }
        for kernel in fileSystem.globEntries(of: versionDir) where DKMSTree.looksLikeKernel(kernel) {
            let kernelDir = "\(versionDir)/\(kernel)"
            for name in fileSystem.entries(of: kernelDir) where name.hasPrefix(".tmp_") {
                fileSystem.removeTree("\(kernelDir)/\(name)")
                repaired("Removed the leftover temporary directory \(kernelDir)/\(name).")
            }
            for arch in fileSystem.globEntries(of: kernelDir) where !fileSystem.isDirectory("\(kernelDir)/\(arch)/module") {
                fileSystem.removeTree("\(kernelDir)/\(arch)")
                repaired("Removed the incomplete build \(kernelDir)/\(arch).")
            }
            if fileSystem.entries(of: kernelDir).isEmpty { fileSystem.removeDirectory(kernelDir) }
        }
        return []
    }

    /// Uninstalls an installed version whose dkms.conf is gone: every
    /// module file of the build is removed from where it was installed and
    /// archived originals go back.
    private func uninstallWithoutConf(module: String, version: String, kernel: String, arch: String) {
        let built = tree.builtDirectory(module, version, kernel, arch) + "/module"
        let kernelDir = "\(installTree)/\(kernel)"
        for file in fileSystem.entries(of: built) where file.contains(".ko") {
            for path in fileSystem.findFiles(under: kernelDir, where: { $0 == file }) where fileSystem.sameContent(path, "\(built)/\(file)") {
                fileSystem.removeFile(path)
            }
        }
        let backupDir = tree.originalModulesDirectory(module, kernel, arch)
        for origin in fileSystem.findFiles(under: backupDir, where: { $0.hasSuffix(".origin") }) {
            let archived = String(origin.dropLast(".origin".count))
            let location = (fileSystem.readText(origin) ?? "").trimmingTrailingNewlines()
            if location.hasPrefix(kernelDir + "/") && !fileSystem.exists(location) {
                fileSystem.makeDirectories(FileSystem.split(location).directory)
                fileSystem.move(archived, to: location)
            }
        }
        fileSystem.removeTree(backupDir)
        fileSystem.removeFile(tree.activeLink(module, kernel, arch))
    }

    /// Removes module files in the kernel's dkms destination that no
    /// installed dkms module owns, and temporary files of interrupted copies.
    /// - Returns: whether anything was removed.
    func removeOrphanedModules(kernel: String, repaired: (String) -> Void) -> Bool {
        let kernelDir = "\(installTree)/\(kernel)"
        var owned: Set<String> = []
        for module in fileSystem.globEntries(of: tree.root) {
            for link in fileSystem.globEntries(of: tree.moduleDirectory(module)) where link.hasPrefix("kernel-\(kernel)-") {
                guard let target = fileSystem.canonicalPath(tree.versionDirectory(module, link)) else { continue }
                for file in fileSystem.entries(of: target + "/module") { owned.insert(file) }
            }
        }
        var removed = false
        // Only a destination that belongs to dkms alone (Debian's
        // /updates/dkms) can hold orphans; /extra is shared with packages.
        let location = dkmsOnlyLocation
        let destination = kernelDir + location
        for path in fileSystem.findFiles(under: destination, where: { $0.contains(".ko") }) {
            let name = FileSystem.split(path).name
            if name.hasPrefix(".") && name.contains(".dkms-new.") {
                fileSystem.removeFile(path)
                repaired("Removed the partial copy \(path).")
                removed = true
            } else if location.hasSuffix("/dkms") && !owned.contains(name) {
                fileSystem.removeFile(path)
                repaired("Removed \(path): no installed dkms module owns it.")
                removed = true
            }
        }
        if removed { fileSystem.deleteEmptyDirectories(under: destination) }
        return removed
    }
}
