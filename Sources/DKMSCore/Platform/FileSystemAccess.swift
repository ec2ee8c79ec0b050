#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The file-system operations the dkms tree store, the journal and the
/// failure records perform, as a value that can be injected: production
/// code uses ``LocalFileSystem`` (the ``FileSystem`` primitives), tests an
/// in-memory file system.
///
/// Paths are plain strings with the semantics of ``FileSystem``: the
/// shell tests and tools upstream dkms relies on.
package protocol FileSystemAccess: Sendable {
    /// `[[ -e path ]]`: the path exists (following symlinks).
    func exists(_ path: String) -> Bool
    /// The path exists without following a final symlink.
    func existsNoFollow(_ path: String) -> Bool
    /// `[[ -d path ]]`: a directory (following symlinks).
    func isDirectory(_ path: String) -> Bool
    /// `[[ -f path ]]`: a regular file (following symlinks).
    func isRegularFile(_ path: String) -> Bool
    /// `[[ -L path ]]`: a symbolic link (not followed).
    func isSymlink(_ path: String) -> Bool
    /// The target of a symlink, or nil.
    func readLink(_ path: String) -> String?
    /// `readlink -f path`: the canonical path; the last component may be
    /// missing. Nil when it cannot be resolved.
    func canonicalPath(_ path: String) -> String?
    /// The entries of a directory in `readdir` order, without `.` and `..`;
    /// empty when unreadable.
    func entries(of path: String) -> [String]
    /// The content of a text file, or nil.
    func readText(_ path: String) -> String?
    /// The bytes of a file, or nil.
    func readBytes(_ path: String) -> [UInt8]?
    /// The content of a file that has at most `limit` bytes; nil when it
    /// cannot be read or is longer (never more than `limit` + 1 bytes are
    /// read, even from a file that grows while it is read).
    func readBytes(_ path: String, atMost limit: Int) -> [UInt8]?
    /// Reads a file from start to end in chunks, handing each to `body`.
    /// - Returns: false when the file cannot be opened or read to its end.
    func forEachChunk(of path: String, _ body: (ArraySlice<UInt8>) -> Void) -> Bool
    /// `realpath(3)`: the canonical path of something that exists, or nil.
    func realPath(_ path: String) -> String?
    /// `[[ -x path ]]`.
    func isExecutable(_ path: String) -> Bool
    /// `[[ -r path ]]`.
    func isReadable(_ path: String) -> Bool
    /// `[[ -w path ]]`.
    func isWritable(_ path: String) -> Bool
    /// The permission bits of a path (following links), or nil.
    func mode(of path: String) -> mode_t?
    /// Sets permission bits; true on success.
    @discardableResult
    func setMode(_ mode: mode_t, of path: String) -> Bool
    /// Writes bytes to a file (truncating, or appending), with `mode` for
    /// a new file; false on failure.
    @discardableResult
    func writeBytes(_ bytes: [UInt8], to path: String, mode: mode_t, append: Bool) -> Bool
    /// Creates a file with `bytes` and `mode` only if nothing (not even a
    /// link) is at `path`, following no link; false otherwise.
    func createNewFile(_ bytes: [UInt8], at path: String, mode: mode_t) -> Bool
    /// Writes bytes so that readers see the old file or all of the new one
    /// (a flushed temporary name, then a rename); false on failure.
    @discardableResult
    func writeBytesAtomically(_ bytes: [UInt8], to destination: String, mode: mode_t) -> Bool
    /// Creates a unique directory from a `mktemp -d` template ending in X's.
    func makeTemporaryDirectory(template: String) -> String?
    /// Creates a unique empty file from a `mktemp` template ending in X's.
    func makeTemporaryFile(template: String) -> String?
    /// `touch path`: updates the modification time, creating the file if needed.
    func touch(_ path: String)
    /// The modification time in nanoseconds since the epoch (not following
    /// a link), or nil.
    func modificationStamp(of path: String) -> Int?
    /// What a path names (links followed) as its identity, size and
    /// modification time, or nil when nothing is there: equal stamps mean
    /// an unchanged file (the key of a memo of what was read from it).
    func fileStamp(of path: String) -> String?
    /// What a path names, as an identity stable while it exists
    /// (`device:inode` on disk), or nil.
    func identity(of path: String) -> String?
    /// The uid owning what `path` names (a final link not followed), or nil.
    func owner(of path: String) -> uid_t?
    /// The size in bytes of what `path` names (a final link is not
    /// followed: its size is its target's length), or nil when nothing is there.
    func size(of path: String) -> Int?
    /// Writes text to a file (truncating, or appending); false on failure.
    @discardableResult
    func writeText(_ text: String, to path: String, append: Bool) -> Bool
    /// Appends text with one write and flushes it to disk before returning.
    /// - Returns: why it could not be written whole and flushed, or nil.
    func appendDurably(_ text: String, to path: String) -> String?
    /// Writes text to a file (truncating) and flushes it before returning.
    /// - Returns: why it could not be written whole and flushed, or nil.
    func writeTextDurably(_ text: String, to path: String) -> String?
    /// Flushes a directory's entries (new and removed names) to disk.
    func syncDirectory(_ path: String)
    /// `mkdir -p path`; false when it could not be created.
    @discardableResult
    func makeDirectories(_ path: String) -> Bool
    /// `rm -rf path`.
    func removeTree(_ path: String)
    /// `rm -f path` for one non-directory entry.
    func removeFile(_ path: String)
    /// `rmdir path`; true on success.
    @discardableResult
    func removeDirectory(_ path: String) -> Bool
    /// `rename(2)`; true on success.
    @discardableResult
    func rename(_ from: String, to: String) -> Bool
    /// `mv -f` (across file systems too); true on success.
    @discardableResult
    func move(_ from: String, to destination: String) -> Bool
    /// `ln -s target path`; true on success.
    @discardableResult
    func symlink(target: String, at path: String) -> Bool
    /// Copies a regular file so that readers see the old destination or
    /// the whole copy, never a part (a flushed temporary name, then a
    /// rename); true on success.
    @discardableResult
    func copyFileAtomically(from source: String, to destination: String) -> Bool
    /// Replaces (or creates) a symlink atomically; true on success.
    @discardableResult
    func replaceSymlink(at path: String, target: String) -> Bool
    /// Regular files (not links) below `root` whose name satisfies
    /// `matches`, in `find` order (pre-order, readdir order).
    func findFiles(under root: String, where matches: (String) -> Bool) -> [String]
    /// `find root -type d -empty -delete`: removes empty directories
    /// bottom-up, including `root` itself when it ends up empty.
    func deleteEmptyDirectories(under root: String)
    /// `cp -a SOURCE/ DESTINATION` for trees of plain files, directories
    /// and symlinks: contents, modes (and, on disk, owners and times) are
    /// kept. False (leaving a partial copy for the caller to remove) when
    /// the tree holds anything else or a copy fails.
    func copyTree(from source: String, to destination: String) -> Bool
    /// The file system's clock: seconds since the epoch now (what a new
    /// file's modification time would say).
    func now() -> Int
}

extension FileSystemAccess {
    /// Writes text to a file, truncating it.
    @discardableResult
    package func writeText(_ text: String, to path: String) -> Bool {
        writeText(text, to: path, append: false)
    }

    /// The entries of a directory sorted the way a bash glob sorts them in
    /// the C locale (byte order), hidden entries left out.
    package func globEntries(of path: String) -> [String] {
        entries(of: path).filter { !$0.hasPrefix(".") }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// ``findFiles(under:where:)`` from the primitives.
    package func findFiles(under root: String, where matches: (String) -> Bool) -> [String] {
        var results: [String] = []
        func walk(_ dir: String) {
            for name in entries(of: dir) {
                let path = dir.hasSuffix("/") ? dir + name : dir + "/" + name
                guard !isSymlink(path) else { continue }
                if isRegularFile(path) && matches(name) { results.append(path) }
                if isDirectory(path) { walk(path) }
            }
        }
        walk(root)
        return results
    }

    /// Writes bytes atomically with mode 0644.
    @discardableResult
    package func writeBytesAtomically(_ bytes: [UInt8], to destination: String) -> Bool {
        writeBytesAtomically(bytes, to: destination, mode: 0o644)
    }

    /// Writes bytes to a file, truncating it, with `mode` (default 0666)
    /// for a new one.
    @discardableResult
    package func writeBytes(_ bytes: [UInt8], to path: String, mode: mode_t = 0o666) -> Bool {
        writeBytes(bytes, to: path, mode: mode, append: false)
    }

    /// Whether a directory has no entries.
    package func isEmptyDirectory(_ path: String) -> Bool {
        isDirectory(path) && entries(of: path).isEmpty
    }

    /// Whether two files have the same bytes (false when one is unreadable).
    package func sameContent(_ a: String, _ b: String) -> Bool {
        guard let left = readBytes(a), let right = readBytes(b) else { return false }
        return left == right
    }

    /// Takes `path` out of sight at once (a rename to the hidden name
    /// `prefix.PID`), then removes it; removes it in place when it cannot
    /// be renamed.
    package func retire(_ path: String, to prefix: String) {
        guard existsNoFollow(path) else { return }
        let hidden = "\(prefix).\(getpid())"
        removeTree(hidden)
        if rename(path, to: hidden) {
            removeTree(hidden)
        } else {
            removeTree(path)
        }
    }

    /// ``deleteEmptyDirectories(under:)`` from the primitives.
    package func deleteEmptyDirectories(under root: String) {
        guard isDirectory(root), !isSymlink(root) else { return }
        for name in entries(of: root) {
            let path = root.hasSuffix("/") ? root + name : root + "/" + name
            if isDirectory(path) && !isSymlink(path) { deleteEmptyDirectories(under: path) }
        }
        if entries(of: root).isEmpty { removeDirectory(root) }
    }
}

/// The machine's own file system: every operation is the ``FileSystem``
/// primitive of the same name.
package struct LocalFileSystem: FileSystemAccess {
    /// The local file system.
    package init() {}

    package func exists(_ path: String) -> Bool { FileSystem.exists(path) }
    package func existsNoFollow(_ path: String) -> Bool { FileSystem.existsNoFollow(path) }
    package func isDirectory(_ path: String) -> Bool { FileSystem.isDirectory(path) }
    package func isRegularFile(_ path: String) -> Bool { FileSystem.isRegularFile(path) }
    package func isSymlink(_ path: String) -> Bool { FileSystem.isSymlink(path) }
    package func readLink(_ path: String) -> String? { FileSystem.readLink(path) }
    package func canonicalPath(_ path: String) -> String? { FileSystem.canonicalPath(path) }
    package func entries(of path: String) -> [String] { FileSystem.entries(of: path) }
    package func readText(_ path: String) -> String? { FileSystem.readText(path) }
    package func readBytes(_ path: String) -> [UInt8]? { FileSystem.readBytes(path) }
    package func readBytes(_ path: String, atMost limit: Int) -> [UInt8]? { FileSystem.readBytes(path, atMost: limit) }
    package func forEachChunk(of path: String, _ body: (ArraySlice<UInt8>) -> Void) -> Bool {
        FileSystem.forEachChunk(of: path, body)
    }
    package func realPath(_ path: String) -> String? { FileSystem.realPath(path) }
    package func isExecutable(_ path: String) -> Bool { FileSystem.isExecutable(path) }
    package func isReadable(_ path: String) -> Bool { FileSystem.isReadable(path) }
    package func isWritable(_ path: String) -> Bool { FileSystem.isWritable(path) }
    package func mode(of path: String) -> mode_t? { FileSystem.mode(of: path) }
    @discardableResult
    package func setMode(_ mode: mode_t, of path: String) -> Bool { FileSystem.setMode(mode, of: path) }
    @discardableResult
    package func writeBytes(_ bytes: [UInt8], to path: String, mode: mode_t, append: Bool) -> Bool {
        FileSystem.writeBytes(bytes, to: path, mode: mode, append: append)
    }
    package func createNewFile(_ bytes: [UInt8], at path: String, mode: mode_t) -> Bool {
        FileSystem.createNewFile(bytes, at: path, mode: mode)
    }
    @discardableResult
    package func writeBytesAtomically(_ bytes: [UInt8], to destination: String, mode: mode_t) -> Bool {
        FileSystem.writeBytesAtomically(bytes, to: destination, mode: mode)
    }
    package func makeTemporaryDirectory(template: String) -> String? { FileSystem.makeTemporaryDirectory(template: template) }
    package func makeTemporaryFile(template: String) -> String? { FileSystem.makeTemporaryFile(template: template) }
    package func touch(_ path: String) { FileSystem.touch(path) }
    package func identity(of path: String) -> String? { FileSystem.identity(of: path) }
    package func fileStamp(of path: String) -> String? { FileSystem.fileStamp(of: path) }
    package func owner(of path: String) -> uid_t? { FileSystem.owner(of: path) }
    package func modificationStamp(of path: String) -> Int? { FileSystem.modificationStamp(of: path) }
    package func size(of path: String) -> Int? { FileSystem.size(of: path) }
    @discardableResult
    package func writeText(_ text: String, to path: String, append: Bool) -> Bool {
        FileSystem.writeText(text, to: path, append: append)
    }
    package func appendDurably(_ text: String, to path: String) -> String? {
        FileSystem.appendDurably(text, to: path)
    }
    package func writeTextDurably(_ text: String, to path: String) -> String? {
        FileSystem.writeTextDurably(text, to: path)
    }
    package func syncDirectory(_ path: String) { FileSystem.syncDirectory(path) }
    @discardableResult
    package func makeDirectories(_ path: String) -> Bool { FileSystem.makeDirectories(path) }
    package func removeTree(_ path: String) { FileSystem.removeTree(path) }
    package func removeFile(_ path: String) { FileSystem.removeFile(path) }
    @discardableResult
    package func removeDirectory(_ path: String) -> Bool { FileSystem.removeDirectory(path) }
    @discardableResult
    package func rename(_ from: String, to: String) -> Bool { FileSystem.rename(from, to: to) }
    @discardableResult
    package func move(_ from: String, to destination: String) -> Bool { FileSystem.move(from, to: destination) }
    @discardableResult
    package func symlink(target: String, at path: String) -> Bool { FileSystem.symlink(target: target, at: path) }
    @discardableResult
    package func replaceSymlink(at path: String, target: String) -> Bool {
        FileSystem.replaceSymlink(at: path, target: target)
    }
    @discardableResult
    package func copyFileAtomically(from source: String, to destination: String) -> Bool {
        FileSystem.copyFileAtomically(from: source, to: destination)
    }
    package func findFiles(under root: String, where matches: (String) -> Bool) -> [String] {
        FileSystem.findFiles(under: root, where: matches)
    }
    package func deleteEmptyDirectories(under root: String) { FileSystem.deleteEmptyDirectories(under: root) }
    package func copyTree(from source: String, to destination: String) -> Bool {
        FileSystem.copyTree(from: source, to: destination)
    }
    package func now() -> Int { FileSystem.now() }
}
