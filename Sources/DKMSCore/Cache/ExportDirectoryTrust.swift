#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Whether `dkms cache export DIRECTORY` may write there as root: no other
/// user may be able to replace, rename into or plant links in what root
/// writes (a web root owned by the web server's user would let it point
/// root's writes at any file). DIRECTORY, every directory above it, and
/// its `entries` and `identities` when they exist must be root's (or the
/// caller's) and writable by their owner alone; a directory above it may be
/// writable by all with the sticky bit (as /tmp), where others can neither
/// rename nor remove what root made there.
package struct ExportDirectoryTrust {
    /// Where the directories are read.
    package var fileSystem: any FileSystemAccess
    /// The uid that may own them besides root (the caller's).
    package var user: uid_t

    /// Checks against `fileSystem`, trusting root and `user`.
    package init(fileSystem: any FileSystemAccess, user: uid_t = geteuid()) {
        self.fileSystem = fileSystem
        self.user = user
    }

    /// Why root must not write in `directory` (an existing directory), or
    /// nil when it may.
    package func problem(_ directory: String) -> String? {
        if fileSystem.isSymlink(directory) { return "\(directory) is a symbolic link" }
        guard let canonical = fileSystem.realPath(directory) else { return "\(directory) cannot be resolved" }
        var path = canonical
        var own = true
        while true {
            if let reason = problem(of: path, mayBeSticky: !own) { return reason }
            own = false
            if path == "/" || path.isEmpty { break }
            let parent = FileSystem.split(path).directory
            path = parent.isEmpty ? "/" : parent
        }
        for inside in ["entries", "identities"] where fileSystem.existsNoFollow(canonical + "/" + inside) {
            let path = canonical + "/" + inside
            if fileSystem.isSymlink(path) { return "\(path) is a symbolic link" }
            if let reason = problem(of: path, mayBeSticky: false) { return reason }
        }
        return nil
    }

    private func problem(of path: String, mayBeSticky: Bool) -> String? {
        guard let owner = fileSystem.owner(of: path), let mode = fileSystem.mode(of: path) else { return "\(path) cannot be read" }
        if owner != 0 && owner != user { return "\(path) belongs to uid \(owner)" }
        if mode & 0o022 != 0 && !(mayBeSticky && mode & mode_t(S_ISVTX) != 0) {
            return "\(path) is writable by its group or others (mode \(String(mode & 0o7777, radix: 8)))"
        }
        return nil
    }
}
