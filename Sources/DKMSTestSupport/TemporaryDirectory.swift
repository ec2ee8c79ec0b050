import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A directory under the system temporary directory that is removed with
/// everything in it when the value is released.
package final class TemporaryDirectory: @unchecked Sendable {
    /// The absolute path (already created).
    package let path: String

    /// Creates a fresh directory.
    package init(prefix: String = "swift-dkms-test") {
        var template = Array("\(NSTemporaryDirectory())/\(prefix).XXXXXX".utf8CString)
        guard let pointer = mkdtemp(&template) else { fatalError("mkdtemp failed") }
        path = URL(fileURLWithPath: String(cString: pointer)).standardizedFileURL.path
        // Sandboxed builds run as an unprivileged user, which must be able
        // to reach the trees (as it can reach /var/lib/dkms and /usr/src).
        chmod(path, 0o755)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// `path/relative`.
    package func child(_ relative: String) -> String {
        path + "/" + relative
    }
}

/// Small file helpers for fixtures.
package enum Files {
    /// Writes text, creating parent directories.
    package static func write(_ text: String, to path: String, executable: Bool = false) {
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8),
                                       attributes: [.posixPermissions: executable ? 0o755 : 0o644])
    }

    /// Creates a directory and its parents.
    package static func makeDirectory(_ path: String) {
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Reads a text file.
    package static func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether something exists at the path (not following a final symlink).
    package static func exists(_ path: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: path)) != nil
    }

    /// The names in a directory, sorted.
    package static func list(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    /// The names in a directory that are not hidden (dkms keeps its lock
    /// and journal in hidden entries of the tree).
    package static func visible(_ path: String) -> [String] {
        list(path).filter { !$0.hasPrefix(".") }
    }

    /// Every entry below a directory (relative, sorted) with what a change
    /// to it would alter: its type and mode, owner, size, modification
    /// time in nanoseconds, and its bytes (an FNV-1a digest) or its link
    /// target. Two fingerprints are equal only if nothing was created,
    /// removed, rewritten (even with the same bytes), touched, chmodded or
    /// chowned in between, and no directory gained or lost an entry.
    package static func fingerprint(_ path: String) -> [String] {
        walk(path).map { relative in
            let full = path + "/" + relative
            var info = stat()
            guard lstat(full, &info) == 0 else { return "\(relative) gone" }
            let time = Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)
            var line = "\(relative) mode=\(String(info.st_mode, radix: 8)) owner=\(info.st_uid):\(info.st_gid) size=\(info.st_size) mtime=\(time)"
            switch info.st_mode & S_IFMT {
            case S_IFLNK: line += " -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: full)) ?? "?")
            case S_IFREG:
                var digest: UInt64 = 0xcbf2_9ce4_8422_2325
                for byte in FileManager.default.contents(atPath: full) ?? Data() { digest = (digest ^ UInt64(byte)) &* 0x100_0000_01b3 }
                line += " fnv=" + String(digest, radix: 16)
            default: break
            }
            return line
        }
    }

    /// Every file below a directory, relative and sorted.
    package static func walk(_ path: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return [] }
        return enumerator.compactMap { $0 as? String }.sorted()
    }
}
