/// Makes an ``InstallPlan`` from where a version's module files are and
/// what the kernel's module tree holds, the way upstream's `do_install`
/// decides module by module: the version sanity check first, then which
/// of the kernel's own files to archive, then the copy. Each module's
/// decisions see the ones before it (an archived file is gone, a copied
/// one is there), through a view of the tree with the planned changes.
/// Planning changes nothing.
package struct InstallPlanner: Sendable {
    /// One module the version installs.
    package struct Module: Sendable, Equatable {
        /// `DEST_MODULE_NAME`.
        package var name: String
        /// `DEST_MODULE_LOCATION` (below the kernel's module directory).
        package var location: String

        /// A module.
        package init(name: String, location: String) {
            self.name = name
            self.location = location
        }
    }

    /// Decides whether a module may replace what the kernel has
    /// (upstream's `check_version_sanity`), printing its refusals to the
    /// console it is given. Its arguments: the module's name, the
    /// kernel's files of that name as the plan stands, the console.
    package typealias SanityCheck = (String, [String], any Console) async -> Bool

    /// The file system planned against.
    package var fileSystem: any FileSystemAccess
    /// The compressed-module suffix in force (`.xz`…, or empty).
    package var compressedSuffix: String

    /// A planner.
    package init(fileSystem: any FileSystemAccess, compressedSuffix: String) {
        self.fileSystem = fileSystem
        self.compressedSuffix = compressedSuffix
    }

    /// The plan to install `modules` from `moduleDirectory` (which holds
    /// `NAME.ko` or its compressed form) into `kernelDirectory`.
    /// - Parameters:
    ///   - originals: where the kernel's own modules are archived.
    ///   - activeLink: the version's active link for the kernel/arch.
    ///   - requiresAModule: installing none of the modules aborts (the version names some).
    package func plan(module: String, version: String, kernel: String, arch: String,
                      modules: [Module], moduleDirectory: String, kernelDirectory: String,
                      originals: String, activeLink: String, symlinks: Bool, requiresAModule: Bool,
                      sanity: SanityCheck) async -> InstallPlan {
        var view = PlannedTree(fileSystem: fileSystem, root: kernelDirectory)
        let active = fileSystem.isSymlink(activeLink)
        var steps: [InstallPlan.Step] = []
        for module in modules {
            let name = module.name
            let announcement = BufferedConsole()
            guard await sanity(name, view.kernelModules(named: name, suffix: compressedSuffix), announcement) else {
                steps.append(InstallPlan.Step(name: name, announcement: announcement.transcript, copy: nil))
                continue
            }
            // Not built yet (a dry run's plan): the name a build would give it.
            let built = view.compressedOrUncompressed(moduleDirectory, name, suffix: compressedSuffix)
            let source = built.isEmpty ? "\(moduleDirectory)/\(name).ko\(compressedSuffix)" : built
            let destination = kernelDirectory + module.location + "/" + FileSystem.split(source).name
            var copy = InstallPlan.ModuleCopy(name: name, source: source, destination: destination)
            if active {
                copy.originalAlreadyStored = !view.compressedOrUncompressed(originals, name, suffix: compressedSuffix).isEmpty
            } else {
                let candidates = ["/extra", "/updates", module.location].map {
                    view.compressedOrUncompressed(kernelDirectory + $0, name, suffix: compressedSuffix)
                }.filter { !$0.isEmpty } + view.kernelModules(named: name, suffix: compressedSuffix)
                if let original = candidates.first(where: view.isRegularFile) {
                    let archived = originals + "/" + FileSystem.split(original).name
                    copy.archive = InstallPlan.Archive(original: original, archived: archived)
                    view.remove(original)
                    view.create(archived)
                    view.create(archived + ".origin")
                }
            }
            if view.existsNoFollow(destination) { view.remove(destination) }
            view.create(destination, isModule: !symlinks)
            steps.append(InstallPlan.Step(name: name, announcement: announcement.transcript, copy: copy))
        }
        return InstallPlan(module: module, version: version, kernel: kernel, arch: arch, steps: steps,
                           activeLink: activeLink, symlinks: symlinks, requiresAModule: requiresAModule)
    }
}

/// The file system as a plan will have left it so far: what the plan
/// removed is gone, what it creates is there. The kernel's module files
/// are indexed once (``KernelModuleIndex``) and kept up to date.
struct PlannedTree {
    let fileSystem: any FileSystemAccess
    private var removed: Set<String> = []
    private var created: Set<String> = []
    private var index: KernelModuleIndex

    init(fileSystem: any FileSystemAccess, root: String) {
        self.fileSystem = fileSystem
        index = KernelModuleIndex(root: root, fileSystem: fileSystem)
    }

    func exists(_ path: String) -> Bool {
        created.contains(path) || (!removed.contains(path) && fileSystem.exists(path))
    }

    func existsNoFollow(_ path: String) -> Bool {
        created.contains(path) || (!removed.contains(path) && fileSystem.existsNoFollow(path))
    }

    func isRegularFile(_ path: String) -> Bool {
        created.contains(path) || (!removed.contains(path) && fileSystem.isRegularFile(path))
    }

    /// `find_module` in the kernel's directory: files named `NAME.ko` or `NAME.ko<suffix>`.
    func kernelModules(named name: String, suffix: String) -> [String] {
        index.find(name + ".ko", name + ".ko" + suffix)
    }

    /// `compressed_or_uncompressed DIR NAME`.
    func compressedOrUncompressed(_ directory: String, _ name: String, suffix: String) -> String {
        Engine.compressedOrUncompressed(directory, name, suffix: suffix, exists: exists)
    }

    mutating func remove(_ path: String) {
        created.remove(path)
        removed.insert(path)
        index.removed(path)
    }

    mutating func create(_ path: String, isModule: Bool = false) {
        removed.remove(path)
        created.insert(path)
        if isModule { index.added(path) }
    }
}
