#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Hands a build's own directory to the build's identity before its steps
/// run, and takes it back afterwards, when no process of the build is left.
///
/// Taking back makes every entry root's again and leaves nothing that
/// root could be tricked by when it strips, signs, copies and publishes
/// the results: a symbolic link that leads out of the directory (say
/// `module.ko -> /etc/shadow`) or nowhere is removed, FIFOs, sockets and
/// device nodes are removed, and setuid, setgid and sticky bits and the
/// group's and others' write bits are cleared. Links within the directory stay.
package enum BuildHandOver {
    /// What taking a directory back changed.
    package struct Report: Sendable, Equatable {
        /// Entries removed (relative paths): links out of the directory and special files.
        package var removed: [String] = []
        /// Entries whose setuid, setgid or sticky bit was cleared.
        package var clearedModes: [String] = []
    }

    /// Makes `directory` and everything in it belong to `identity`.
    /// - Parameter fileSystem: where the directories are listed (owners
    ///   and modes are read and changed on the disk, which it does not model).
    @discardableResult
    package static func give(_ directory: String, to identity: BuildIdentity,
                             fileSystem: any FileSystemAccess = LocalFileSystem()) -> Bool {
        var ok = true
        walk(directory, relative: "", fileSystem: fileSystem) { path, _, _ in
            if lchown(path, identity.uid, identity.gid) != 0 { ok = false }
        }
        return ok
    }

    /// Makes `directory` root's again (see the type's description).
    /// - Parameter fileSystem: where paths are resolved and directories listed.
    @discardableResult
    package static func takeBack(_ directory: String, fileSystem: any FileSystemAccess = LocalFileSystem()) -> Report {
        var report = Report()
        guard let root = fileSystem.realPath(directory) else { return report }
        walk(directory, relative: "", fileSystem: fileSystem) { path, relative, st in
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                let resolved = fileSystem.realPath(path)
                if let resolved, resolved == root || resolved.hasPrefix(root + "/") {
                    lchown(path, 0, 0)
                } else {
                    unlink(path)
                    report.removed.append(relative)
                }
            case S_IFDIR, S_IFREG:
                lchown(path, 0, 0)
                // root's, and writable by root alone: a build that made its
                // files 0666 or its directories 0777 must not leave, in root's
                // trees, what any local user could change before root signs,
                // stores, publishes or removes it
                if st.st_mode & 0o7777 != st.st_mode & 0o755 { chmod(path, st.st_mode & 0o755) }
                if st.st_mode & (S_ISUID | S_ISGID | S_ISVTX) != 0 { report.clearedModes.append(relative) }
            default:
                unlink(path)
                report.removed.append(relative)
            }
        }
        return report
    }

    /// Calls `body` for `path` and, depth first, everything under it,
    /// never following a link; a directory is visited before its entries.
    private static func walk(_ path: String, relative: String, fileSystem: any FileSystemAccess,
                             _ body: (String, String, stat) -> Void) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        body(path, relative.isEmpty ? "." : relative, st)
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return }
        for name in fileSystem.entries(of: path) {
            walk(path + "/" + name, relative: relative.isEmpty ? name : relative + "/" + name, fileSystem: fileSystem, body)
        }
    }
}
