#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Thin, synchronous file-system primitives with the semantics of the
/// shell tests and tools upstream dkms relies on (`-e`, `-d`, `-L`,
/// `readlink -f`, `rm -rf`, `mkdir -p`, `mv -T`).
///
/// Paths are plain strings on purpose: dkms prints the paths it builds by
/// concatenation verbatim, so they must not be normalised.
package enum FileSystem {
    /// `[[ -e path ]]`: the path exists (following symlinks).
    package static func exists(_ path: String) -> Bool {
        if let snapshot = FileSystemSnapshot.current { return snapshot.followedKind(path) != .absent }
        var st = stat()
        return stat(path, &st) == 0
    }

    /// `[[ -d path ]]`: a directory (following symlinks).
    package static func isDirectory(_ path: String) -> Bool {
        if let snapshot = FileSystemSnapshot.current { return snapshot.followedKind(path) == .directory }
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// `[[ -f path ]]`: a regular file (following symlinks).
    package static func isRegularFile(_ path: String) -> Bool {
        if let snapshot = FileSystemSnapshot.current { return snapshot.followedKind(path) == .regular }
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// `[[ -L path ]]`: a symbolic link (not followed).
    package static func isSymlink(_ path: String) -> Bool {
        if let snapshot = FileSystemSnapshot.current { return snapshot.linkKind(path) == .symlink }
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }

    /// The path exists without following a final symlink.
    package static func existsNoFollow(_ path: String) -> Bool {
        if let snapshot = FileSystemSnapshot.current { return snapshot.linkKind(path) != .absent }
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// `[[ -x path ]]`.
    package static func isExecutable(_ path: String) -> Bool {
        !path.isEmpty && access(path, X_OK) == 0
    }

    /// `[[ -r path ]]`.
    package static func isReadable(_ path: String) -> Bool {
        if !path.isEmpty, let snapshot = FileSystemSnapshot.current { return snapshot.isReadable(path) }
        return !path.isEmpty && access(path, R_OK) == 0
    }

    /// `[[ -w path ]]`.
    package static func isWritable(_ path: String) -> Bool {
        !path.isEmpty && access(path, W_OK) == 0
    }

    /// `[[ -s path ]]`: exists and is not empty.
    package static func isNonEmptyFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && st.st_size > 0
    }

    /// The target of a symlink, or nil.
    package static func readLink(_ path: String) -> String? {
        guard let snapshot = FileSystemSnapshot.current else { return readLinkNow(path) }
        if let known = snapshot.readLink(path) { return known }
        let target = readLinkNow(path)
        snapshot.remember(link: target, of: path)
        return target
    }

    private static func readLinkNow(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        buffer[count] = 0
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `readlink -f path`: the canonical path; the last component may be
    /// missing. Returns nil when it cannot be resolved.
    package static func canonicalPath(_ path: String) -> String? {
        if let resolved = realPath(path) { return resolved }
        let (dir, base) = split(path)
        guard let parent = realPath(dir.isEmpty ? "." : dir) else { return nil }
        return parent == "/" ? "/" + base : parent + "/" + base
    }

    /// `realpath(3)` of a path, or nil when it cannot be resolved.
    static func realPath(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// Splits a path into the directory part and the last component.
    package static func split(_ path: String) -> (directory: String, name: String) {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return ("", String(trimmed)) }
        let dir = trimmed[..<slash]
        return (dir.isEmpty ? "/" : String(dir), String(trimmed[trimmed.index(after: slash)...]))
    }

    /// The entries of a directory in `readdir` order (what `find` and
    /// `ls -U` see), without `.` and `..`. Empty when unreadable.
    package static func entries(of path: String) -> [String] {
        if let snapshot = FileSystemSnapshot.current { return snapshot.list(path) }
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The entries of a directory sorted the way a bash glob sorts them
    /// in the C locale (byte order). Hidden entries are left out.
    package static func globEntries(of path: String) -> [String] {
        entries(of: path).filter { !$0.hasPrefix(".") }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// `mkdir -p path` (mode 0777 minus the umask).
    @discardableResult
    package static func makeDirectories(_ path: String) -> Bool {
        if isDirectory(path) { return true }
        let (parent, _) = split(path)
        if !parent.isEmpty && parent != path && !isDirectory(parent) {
            guard makeDirectories(parent) else { return false }
        }
        return mkdir(path, 0o777) == 0 || isDirectory(path)
    }

    /// `rm -rf path`: removes a file, a link or a whole tree.
    package static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in entries(of: path) { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// `rm -f path` for one non-directory entry.
    package static func removeFile(_ path: String) {
        unlink(path)
    }

    /// `rmdir path`; true on success.
    @discardableResult
    package static func removeDirectory(_ path: String) -> Bool {
        rmdir(path) == 0
    }

    /// `rename(2)`: atomic replacement within one file system.
    @discardableResult
    package static func rename(_ from: String, to: String) -> Bool {
        Glibc.rename(from, to) == 0
    }

    /// `ln -s target path`.
    @discardableResult
    package static func symlink(target: String, at path: String) -> Bool {
        Glibc.symlink(target, path) == 0
    }

    /// Whether a directory has no entries.
    package static func isEmptyDirectory(_ path: String) -> Bool {
        isDirectory(path) && entries(of: path).isEmpty
    }

    /// The whole content of a file as bytes, or nil.
    package static func readBytes(_ path: String) -> [UInt8]? {
        var result: [UInt8] = []
        return forEachChunk(of: path) { result.append(contentsOf: $0) } ? result : nil
    }

    /// The content of a file that has at most `limit` bytes; nil when it
    /// cannot be read or is longer (never more than `limit` + 1 bytes are
    /// read, even from a file that grows while it is read).
    package static func readBytes(_ path: String, atMost limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while result.count <= limit {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, CacheNumber.sum(limit - result.count, 1))) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return result }
            result.append(contentsOf: chunk[0..<count])
        }
        return nil
    }

    /// Reads a file from start to end in chunks, handing each to `body`.
    /// - Returns: false when the file cannot be opened or read to its end.
    package static func forEachChunk(of path: String, _ body: (ArraySlice<UInt8>) -> Void) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return false
            }
            if count == 0 { return true }
            body(chunk[0..<count])
        }
    }

    /// The content of a text file, or nil.
    package static func readText(_ path: String) -> String? {
        readBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Writes bytes to a file (truncating), with the given mode for a new file.
    @discardableResult
    package static func writeBytes(_ bytes: [UInt8], to path: String, mode: mode_t = 0o666, append: Bool = false) -> Bool {
        // Appending (to logs) follows no symbolic link and writes only to a
        // regular file: a build owns the directory of its make.log.
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND | O_NOFOLLOW | O_NONBLOCK : O_TRUNC)
        let fd = open(path, flags, mode)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if append {
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return false }
        }
        return writeAll(bytes, to: fd)
    }

    /// Writes all of `bytes` to `fd`, retrying short and interrupted writes.
    private static func writeAll(_ bytes: [UInt8], to fd: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }

    /// Creates `path` with `bytes` and exactly `mode`, only if nothing is
    /// there (not even a dangling link): `O_EXCL|O_NOFOLLOW`, so no link
    /// planted at the path is followed and no existing file is replaced,
    /// with no gap between a check and the open. Flushed; false on failure.
    package static func createNewFile(_ bytes: [UInt8], at path: String, mode: mode_t) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return writeAll(bytes, to: fd) && fchmod(fd, mode) == 0 && fsync(fd) == 0
    }

    /// Writes text to a file (truncating).
    @discardableResult
    package static func writeText(_ text: String, to path: String, append: Bool = false) -> Bool {
        writeBytes(Array(text.utf8), to: path, append: append)
    }

    /// The permission bits of a path (following links), or nil.
    package static func mode(of path: String) -> mode_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_mode & 0o7777
    }

    /// Sets permission bits.
    @discardableResult
    package static func setMode(_ mode: mode_t, of path: String) -> Bool {
        chmod(path, mode) == 0
    }

    /// Copies a regular file to `destination` atomically: the bytes go to a
    /// temporary name in the same directory, are flushed, and then renamed
    /// over the destination, so readers never see a half-written file.
    @discardableResult
    package static func copyFileAtomically(from source: String, to destination: String) -> Bool {
        guard let bytes = readBytes(source) else { return false }
        return writeBytesAtomically(bytes, to: destination, mode: mode(of: source) ?? 0o644)
    }

    /// Writes bytes to `destination` atomically: they go to a temporary
    /// name in the same directory, are flushed, and then renamed over the
    /// destination, so readers never see a half-written file.
    @discardableResult
    package static func writeBytesAtomically(_ bytes: [UInt8], to destination: String, mode: mode_t = 0o644) -> Bool {
        let (dir, name) = split(destination)
        let temporary = (dir.isEmpty ? "." : dir) + "/.\(name).dkms-new.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { return false }
        var ok = writeAll(bytes, to: fd)
        if ok { ok = fsync(fd) == 0 }
        close(fd)
        if ok { ok = rename(temporary, to: destination) }
        if !ok { unlink(temporary) }
        return ok
    }

    /// Creates a unique directory from a `mktemp -d` template ending in X's.
    package static func makeTemporaryDirectory(template: String) -> String? {
        var bytes = Array(template.utf8CString)
        guard mkdtemp(&bytes) != nil else { return nil }
        return String(cString: bytes)
    }

    /// Updates the modification time, creating the file if needed (`touch`).
    package static func touch(_ path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o666)
        if fd >= 0 {
            futimens(fd, nil)
            close(fd)
        }
    }

    /// Recursively lists regular files below `root` whose name satisfies
    /// `matches`, in `find` order (pre-order, readdir order).
    package static func findFiles(under root: String, where matches: (String) -> Bool) -> [String] {
        var results: [String] = []
        func walk(_ dir: String) {
            for name in entries(of: dir) {
                let path = dir.hasSuffix("/") ? dir + name : dir + "/" + name
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                let type = st.st_mode & S_IFMT
                if type == S_IFREG && matches(name) { results.append(path) }
                if type == S_IFDIR { walk(path) }
            }
        }
        walk(root)
        return results
    }

    /// `find root -type d -empty -delete`: removes empty directories
    /// bottom-up, including `root` itself when it ends up empty.
    package static func deleteEmptyDirectories(under root: String) {
        guard isDirectory(root), !isSymlink(root) else { return }
        for name in entries(of: root) {
            let path = root.hasSuffix("/") ? root + name : root + "/" + name
            if isDirectory(path) && !isSymlink(path) { deleteEmptyDirectories(under: path) }
        }
        if entries(of: root).isEmpty { rmdir(root) }
    }
}

extension FileSystem {
    /// `mv -f`: a rename, or a copy and delete when the two paths are on
    /// different file systems.
    @discardableResult
    package static func move(_ from: String, to destination: String) -> Bool {
        if rename(from, to: destination) { return true }
        guard errno == EXDEV, copyFileAtomically(from: from, to: destination) else { return false }
        // A source that cannot be removed (read-only file system): no move.
        guard unlink(from) == 0 || errno == ENOENT else {
            unlink(destination)
            return false
        }
        return true
    }

    /// Replaces (or creates) a symlink atomically: a new link under a
    /// temporary name is renamed over the old one.
    @discardableResult
    package static func replaceSymlink(at path: String, target: String) -> Bool {
        let temporary = path + ".dkms-new.\(getpid())"
        unlink(temporary)
        guard symlink(target: target, at: temporary) else { return false }
        if rename(temporary, to: path) { return true }
        unlink(temporary)
        return false
    }
}

extension FileSystem {
    /// Appends text with one `write(2)` and `fsync(2)`s it before returning.
    /// - Returns: why it could not be written whole and flushed (no room, a
    ///   read-only file system), or nil.
    package static func appendDurably(_ text: String, to path: String) -> String? {
        writeDurably(text, to: path, flags: O_APPEND)
    }

    /// Writes text to a file (truncating) with one `write(2)` and `fsync(2)`s
    /// it before returning, for a small record that must be on disk whole
    /// before a later flush (the journal's commit) makes the state it
    /// describes durable: without the flush, a power cut can leave the file
    /// empty under a committed state (ext4 writes delayed data back up to
    /// about 30 s later).
    /// - Returns: why it could not be written whole and flushed, or nil.
    package static func writeTextDurably(_ text: String, to path: String) -> String? {
        writeDurably(text, to: path, flags: O_TRUNC)
    }

    /// Opens `path` for writing (created 0644, with `flags`: appending or
    /// truncating), writes `text` with one `write(2)` and `fsync(2)`s it.
    /// - Returns: why it could not be written whole and flushed, or nil.
    private static func writeDurably(_ text: String, to path: String, flags: Int32) -> String? {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0o644)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        let length = text.utf8.count
        let written = text.withCString { write(fd, $0, strlen($0)) }
        if written != length { return written < 0 ? String(cString: strerror(errno)) : "short write" }
        if fsync(fd) != 0 { return String(cString: strerror(errno)) }
        return nil
    }

    /// `fsync(2)` of a directory, so that names added to or removed from it
    /// are on disk.
    package static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

extension FileSystem {
    /// `device:inode` of a path (following links), or nil.
    /// The owner's uid of what `path` names (a final link not followed), or nil.
    package static func owner(of path: String) -> uid_t? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return st.st_uid
    }

    package static func identity(of path: String) -> String? {
        if let snapshot = FileSystemSnapshot.current {
            return snapshot.status(path).map { "\($0.device):\($0.inode)" }
        }
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_dev):\(st.st_ino)"
    }
}

extension FileSystem {
    /// `cp -a SOURCE/ DESTINATION` for trees of plain files, directories
    /// and symlinks: contents, modes, owners and times are kept. Returns
    /// false (leaving a partial copy for the caller to remove) when the
    /// tree holds anything else or a copy fails.
    package static func copyTree(from source: String, to destination: String) -> Bool {
        var st = stat()
        guard lstat(source, &st) == 0 else { return false }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            guard mkdir(destination, st.st_mode & 0o7777) == 0 || isDirectory(destination) else { return false }
            for name in entries(of: source) {
                guard copyTree(from: source + "/" + name, to: destination + "/" + name) else { return false }
            }
        case S_IFREG:
            guard let bytes = readBytes(source),
                  writeBytes(bytes, to: destination, mode: st.st_mode & 0o7777) else { return false }
        case S_IFLNK:
            guard let target = readLink(source), symlink(target: target, at: destination) else { return false }
        default:
            return false
        }
        _ = lchown(destination, st.st_uid, st.st_gid)
        if (st.st_mode & S_IFMT) != S_IFLNK { chmod(destination, st.st_mode & 0o7777) }
        var times = [st.st_atim, st.st_mtim]
        _ = utimensat(AT_FDCWD, destination, &times, AT_SYMLINK_NOFOLLOW)
        return true
    }
}
