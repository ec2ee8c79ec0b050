import Crypto

/// SHA-256 digests of files and of whole directory trees, as the cache
/// key needs them.
package struct TreeDigest: Sendable {
    /// Where the files are read.
    package var fileSystem: any FileSystemAccess

    /// Creates a digester reading `fileSystem`.
    package init(fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.fileSystem = fileSystem
    }

    /// The SHA-256 of a file's bytes, or nil when it cannot be read.
    package func fileDigest(_ path: String) -> String? {
        var hasher = SHA256()
        guard fileSystem.forEachChunk(of: path, { hasher.update(data: $0) }) else { return nil }
        return HexDigest.hex(hasher.finalize())
    }

    /// The SHA-256 of a directory tree: every entry's path relative to
    /// the root (in byte order), its type and permission bits, and a
    /// file's content digest or a link's target. Unreadable files count
    /// as such, so that a tree that cannot be read fully never matches a
    /// tree that can.
    package func treeDigest(_ root: String) -> String {
        var hasher = SHA256()
        func feed(_ text: String) { hasher.updateFramed(text) }
        func walk(_ directory: String, _ relative: String) {
            for name in fileSystem.entries(of: directory).sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                let path = directory + "/" + name
                let shown = relative.isEmpty ? name : relative + "/" + name
                // What lstat(2) says: a link is not followed, so only
                // entries that are not links are asked for type and mode.
                guard fileSystem.existsNoFollow(path) else {
                    feed("? \(shown)")
                    continue
                }
                if fileSystem.isSymlink(path) {
                    feed("l \(shown) \(fileSystem.readLink(path) ?? "")")
                    continue
                }
                let permissions = String((fileSystem.mode(of: path) ?? 0) & 0o7777, radix: 8)
                if fileSystem.isDirectory(path) {
                    feed("d \(permissions) \(shown)")
                    walk(path, shown)
                } else if fileSystem.isRegularFile(path) {
                    feed("f \(permissions) \(shown) \(fileDigest(path) ?? "unreadable")")
                } else {
                    feed("o \(permissions) \(shown)")
                }
            }
        }
        walk(root, "")
        return HexDigest.hex(hasher.finalize())
    }
}

extension SHA256 {
    /// Feeds a field framed by its length (`N:` and its N bytes), so that
    /// no two sequences of fields feed the same bytes.
    mutating func updateFramed(_ field: String) {
        let bytes = Array(field.utf8)
        update(data: Array("\(bytes.count):".utf8))
        update(data: bytes)
    }
}
