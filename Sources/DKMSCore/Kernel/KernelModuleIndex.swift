/// The module files below one kernel's module directory, by file name,
/// found with one walk of the tree.
///
/// Upstream's `find_module` walks the whole `/lib/modules/K` for every
/// module it installs: for a package of hundreds of modules on a kernel of
/// thousands that is a walk per module, growing with modules x files.
/// An install builds this index once and keeps it up to date with what it
/// moves and copies, so each module costs a dictionary look-up.
struct KernelModuleIndex {
    /// The directory walked.
    let root: String
    private var paths: [String: [(order: Int, path: String)]] = [:]
    private var next = 0

    /// Walks `root` once (regular files whose name holds `.ko`).
    init(root: String, fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.root = root
        for path in fileSystem.findFiles(under: root, where: { $0.contains(".ko") }) { added(path) }
    }

    /// What `find_module` finds: files named `plain` or `suffixed`, in walk order.
    func find(_ plain: String, _ suffixed: String) -> [String] {
        var found = paths[plain] ?? []
        if suffixed != plain { found += paths[suffixed] ?? [] }
        return found.sorted { $0.order < $1.order }.map(\.path)
    }

    /// A regular file appeared (a copy was installed).
    mutating func added(_ path: String) {
        paths[FileSystem.split(path).name, default: []].append((next, path))
        next += 1
    }

    /// A file went away (it was archived or moved aside).
    mutating func removed(_ path: String) {
        paths[FileSystem.split(path).name]?.removeAll { $0.path == path }
    }
}
