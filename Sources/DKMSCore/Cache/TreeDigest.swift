#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto

/// SHA-256 digests of files and of whole directory trees, as the cache
/// key needs them.
package struct TreeDigest: Sendable {
    /// Creates a digester.
    package init() {}

    /// The SHA-256 of a file's bytes, or nil when it cannot be read.
    package func fileDigest(_ path: String) -> String? {
        var hasher = SHA256()
        guard FileSystem.forEachChunk(of: path, { hasher.update(data: $0) }) else { return nil }
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
            for name in FileSystem.entries(of: directory).sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                let path = directory + "/" + name
                let shown = relative.isEmpty ? name : relative + "/" + name
                var info = stat()
                guard lstat(path, &info) == 0 else {
                    feed("? \(shown)")
                    continue
                }
                let permissions = String(info.st_mode & 0o7777, radix: 8)
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    feed("d \(permissions) \(shown)")
                    walk(path, shown)
                case S_IFREG:
                    feed("f \(permissions) \(shown) \(fileDigest(path) ?? "unreadable")")
                case S_IFLNK:
                    feed("l \(shown) \(FileSystem.readLink(path) ?? "")")
                default:
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
