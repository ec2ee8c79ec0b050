/// The state of one module version for one kernel.
package enum BuiltState: String, Sendable, Equatable {
    case built
    case installed
}

/// One record of upstream's `module_status`.
package enum ModuleStatusRecord: Sendable, Equatable {
    /// The source link or directory is gone (`m/v: broken`).
    case broken(module: String, version: String)
    /// Added but built for no kernel.
    case added(module: String, version: String)
    /// Built (or built and installed) for a kernel.
    case built(module: String, version: String, kernel: String, arch: String, state: BuiltState)

    /// The module name.
    package var module: String {
        switch self {
        case .broken(let m, _), .added(let m, _), .built(let m, _, _, _, _): return m
        }
    }

    /// The module version.
    package var version: String {
        switch self {
        case .broken(_, let v), .added(_, let v), .built(_, let v, _, _, _): return v
        }
    }
}

/// Read-only questions about the dkms tree (`/var/lib/dkms`), answered
/// from the file system alone, with upstream's exact rules.
package struct DKMSTree: Sendable {
    /// The dkms tree root.
    package var root: String
    /// The source tree root (`/usr/src`).
    package var sourceTree: String
    /// The file system the trees are read from.
    package let fileSystem: any FileSystemAccess

    /// Whether `root` is already canonical (no symlink, `.` or `..` in it),
    /// which lets `isActive` avoid resolving every link component by component.
    let rootIsCanonical: Bool

    /// Active links as pending journal entries will leave them once settled
    /// (a link path to its target, "" when it will not exist); a reader of
    /// the committed state looks here before the file system.
    package var committedLinks: [String: String] = [:]

    /// Files below `m/original_module/K/A` directories that pending journal
    /// entries will take away once settled.
    package var pendingOriginals: [String: Set<String>] = [:]

    /// Creates a view of a tree kept on `fileSystem`.
    package init(root: String, sourceTree: String, fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.root = root
        self.sourceTree = sourceTree
        self.fileSystem = fileSystem
        rootIsCanonical = fileSystem.canonicalPath(root) == root
    }

    /// `$dkms_tree/m/v`.
    package func versionDirectory(_ module: String, _ version: String) -> String {
        "\(root)/\(module)/\(version)"
    }

    /// `$dkms_tree/m/v/source`: the link to (or copy of) the module's source.
    package func sourceDirectory(_ module: String, _ version: String) -> String {
        "\(root)/\(module)/\(version)/source"
    }

    /// `$dkms_tree/m/v/build`: where builds run, and what a failed build leaves.
    package func buildDirectory(_ module: String, _ version: String) -> String {
        "\(root)/\(module)/\(version)/build"
    }

    /// `$dkms_tree/m/v/K/A`.
    package func builtDirectory(_ module: String, _ version: String, _ kernel: String, _ arch: String) -> String {
        "\(root)/\(module)/\(version)/\(kernel)/\(arch)"
    }

    /// `$dkms_tree/m/kernel-K-A`, the link that marks the installed version.
    package func activeLink(_ module: String, _ kernel: String, _ arch: String) -> String {
        "\(root)/\(module)/kernel-\(kernel)-\(arch)"
    }

    /// The source link or directory is missing (upstream `is_module_broken`).
    package func isBroken(_ module: String, _ version: String) -> Bool {
        guard !module.isEmpty, !version.isEmpty else { return false }
        let dir = versionDirectory(module, version)
        guard fileSystem.isDirectory(dir) else { return false }
        let source = dir + "/source"
        if fileSystem.isSymlink(source) && !fileSystem.isDirectory(source) { return true }
        if !fileSystem.isSymlink(source) && fileSystem.isDirectory("\(sourceTree)/\(module)-\(version)/") { return true }
        return false
    }

    /// The version directory exists with a working source link.
    package func isAdded(_ module: String, _ version: String) -> Bool {
        guard !module.isEmpty, !version.isEmpty else { return false }
        let dir = versionDirectory(module, version)
        guard fileSystem.isDirectory(dir) else { return false }
        let source = dir + "/source"
        return fileSystem.isSymlink(source) && fileSystem.isDirectory(source)
    }

    /// `m/v/K/A/module` is a directory.
    package func isBuilt(_ module: String, _ version: String, _ kernel: String, _ arch: String) -> Bool {
        guard !module.isEmpty, !version.isEmpty, !kernel.isEmpty, !arch.isEmpty else { return false }
        return fileSystem.isDirectory(builtDirectory(module, version, kernel, arch) + "/module")
    }

    /// The active link resolves to this version's built directory
    /// (upstream `_is_module_installed`; built-ness is not checked).
    package func isActive(_ module: String, _ version: String, _ kernel: String, _ arch: String) -> Bool {
        isActive(module, version, kernel, arch, plainVersionDirectory: nil)
    }

    /// Whether `m/v` lies in a canonical root through plain, non-link
    /// directories (which makes the active link's resolution arithmetic).
    func isPlainVersionDirectory(_ module: String, _ version: String) -> Bool {
        rootIsCanonical && Self.isPlainComponent(module) && Self.isPlainComponent(version)
            && !fileSystem.isSymlink("\(root)/\(module)") && !fileSystem.isSymlink(versionDirectory(module, version))
    }

    /// ``isActive(_:_:_:_:)``, given ``isPlainVersionDirectory(_:_:)`` when
    /// the caller already knows it (once per version for all its kernels).
    func isActive(_ module: String, _ version: String, _ kernel: String, _ arch: String, plainVersionDirectory: Bool?) -> Bool {
        guard !module.isEmpty, !version.isEmpty, !kernel.isEmpty, !arch.isEmpty else { return false }
        let link = activeLink(module, kernel, arch)
        if let committed = committedLinks[link] {
            guard !committed.isEmpty else { return false }
            let resolved = fileSystem.canonicalPath(committed.hasPrefix("/") ? committed : "\(root)/\(module)/\(committed)")
            return resolved != nil && resolved == fileSystem.canonicalPath(builtDirectory(module, version, kernel, arch))
        }
        guard let target = fileSystem.readLink(link) else { return false }
        // The link dkms itself makes, in a canonical tree whose directories
        // are not links: resolving it is plain path arithmetic. (Each name
        // must be one plain component: a `.` or `..` would move the path.)
        if target == "\(version)/\(kernel)/\(arch)", Self.isPlainComponent(kernel), Self.isPlainComponent(arch),
           plainVersionDirectory ?? isPlainVersionDirectory(module, version),
           !fileSystem.isSymlink("\(versionDirectory(module, version))/\(kernel)"),
           !fileSystem.isSymlink(builtDirectory(module, version, kernel, arch)),
           fileSystem.isDirectory(builtDirectory(module, version, kernel, arch)) {
            return true
        }
        guard let resolved = fileSystem.canonicalPath(link) else { return false }
        return resolved == builtDirectory(module, version, kernel, arch)
    }

    /// A path component that names a child of its directory: not empty,
    /// `.` or `..`, and without `/`.
    static func isPlainComponent(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/")
    }

    /// Built and active.
    package func isInstalled(_ module: String, _ version: String, _ kernel: String, _ arch: String) -> Bool {
        isBuilt(module, version, kernel, arch) && isActive(module, version, kernel, arch)
    }

    /// `m/v` pairs known to the tree (upstream `list_module_version_combos`),
    /// in glob order, optionally filtered by module and version.
    package func moduleVersions(module: String = "", version: String = "") -> [(module: String, version: String)] {
        let modules = module.isEmpty ? fileSystem.globEntries(of: root) : [module]
        var result: [(String, String)] = []
        for m in modules {
            // A version given with trailing slashes names the directory, and
            // upstream reports the directory's name.
            var given = Substring(version)
            while given.count > 1 && given.hasSuffix("/") { given = given.dropLast() }
            let versions = version.isEmpty ? fileSystem.globEntries(of: "\(root)/\(m)") : [String(given)]
            for v in versions {
                guard fileSystem.isDirectory("\(root)/\(m)/\(v)") else { continue }
                if Self.isActiveLinkName(v) { continue }
                result.append((m, v))
            }
        }
        return result
    }

    /// `kernel-*-*` names are the active links, not versions.
    static func isActiveLinkName(_ name: String) -> Bool {
        guard name.hasPrefix("kernel-") else { return false }
        return name.dropFirst("kernel-".count).contains("-")
    }

    /// Kernel directory names as upstream's `+([0-9]).*` glob selects them.
    static func looksLikeKernel(_ name: String) -> Bool {
        guard let dot = name.firstIndex(of: "."), dot > name.startIndex else { return false }
        return name[..<dot].allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// The kernels and arches this version is built for (upstream
    /// `module_status_built`), optionally filtered.
    package func builtEntries(_ module: String, _ version: String, kernel: String = "", arch: String = "") -> [(kernel: String, arch: String, state: BuiltState)] {
        let base = versionDirectory(module, version)
        let kernels = kernel.isEmpty ? fileSystem.globEntries(of: base).filter(Self.looksLikeKernel) : [kernel]
        var result: [(String, String, BuiltState)] = []
        var plain: Bool?
        for k in kernels {
            let arches = arch.isEmpty ? fileSystem.globEntries(of: "\(base)/\(k)") : [arch]
            for a in arches where isBuilt(module, version, k, a) {
                if plain == nil { plain = isPlainVersionDirectory(module, version) }
                result.append((k, a, isActive(module, version, k, a, plainVersionDirectory: plain) ? .installed : .built))
            }
        }
        return result
    }

    /// Upstream's `module_status`: broken, added, built and installed
    /// records in tree order.
    package func status(module: String = "", version: String = "", kernel: String = "", arch: String = "") -> [ModuleStatusRecord] {
        var records: [ModuleStatusRecord] = []
        for (m, v) in moduleVersions(module: module, version: version) {
            if isBroken(m, v) {
                records.append(.broken(module: m, version: v))
                continue
            }
            guard isAdded(m, v) else { continue }
            let built = builtEntries(m, v, kernel: kernel, arch: arch)
            if built.isEmpty {
                records.append(.added(module: m, version: v))
            } else {
                for entry in built {
                    records.append(.built(module: m, version: v, kernel: entry.kernel, arch: entry.arch, state: entry.state))
                }
            }
        }
        return records
    }
}
