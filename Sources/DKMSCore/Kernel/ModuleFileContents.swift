/// The module files one `status` line looks at, each read once where it
/// is small: the installed copy's `.modinfo` (upstream's
/// `find_actual_dest_module_location`) and its bytes (upstream's `diff -q`
/// against the built copy) come from one read. A large module's bytes are
/// not kept by the `.modinfo` read (that reads only its headers).
struct ModuleFileContents {
    /// Contents by path; nil when unreadable.
    private var known: [String: [UInt8]?] = [:]

    /// Where whole files are read (the `.modinfo` reads go to the disk).
    let fileSystem: any FileSystemAccess

    /// No file read yet.
    init(fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.fileSystem = fileSystem
    }

    /// The key a file's contents are kept by: its identity while a
    /// ``FileSystemSnapshot`` is in force (where knowing it costs no system
    /// call, and the active link's copy and the built copy are one file),
    /// else its path.
    private func key(_ path: String) -> String {
        guard FileSystemSnapshot.current != nil, let identity = fileSystem.identity(of: path) else { return path }
        return "\u{1}" + identity
    }

    /// The bytes of a file, read on first use.
    mutating func bytes(of path: String) -> [UInt8]? {
        let key = key(path)
        if let cached = known[key] { return cached }
        let read = fileSystem.readBytes(path)
        known[key] = read
        return read
    }

    /// The `.modinfo` entries of an uncompressed module (nil as for
    /// ``ModuleInfoReader/read(path:)``), keeping a small file's bytes.
    mutating func modinfo(of path: String) -> [(key: String, value: String)]? {
        let key = key(path)
        if let cached = known[key] {
            if let cached { return ModuleInfoReader.entries(ofFile: cached) }
            return ModuleInfoReader.read(path: path)
        }
        let (entries, contents) = ModuleInfoReader.readKeepingSmallFile(path: path)
        if let contents { known[key] = contents }
        return entries
    }

    /// `diff -q` succeeds: both files readable with equal bytes.
    mutating func sameContent(_ a: String, _ b: String) -> Bool {
        guard let left = bytes(of: a), let right = bytes(of: b) else { return false }
        return left == right
    }
}
