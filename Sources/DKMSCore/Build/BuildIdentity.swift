#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The unprivileged user and group a sandboxed build runs as, outside
/// and inside its namespaces: one that owns no file on the host, so the
/// build can read only what everybody may read and write only its own
/// directory (which dkms hands to it for the build and takes back after).
///
/// It is the package's system user `dkms-build` (created by the Debian
/// package with a group of its own, no home and no shell), or `build_user`
/// from framework.conf; when that user does not exist (a source build, a
/// test tree) it is `nobody` with its group (`nogroup` on Debian), or
/// 65534:65534 when even those are missing. Never root.
package struct BuildIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The user's name, for messages.
    package var name: String
    /// The user id.
    package var uid: UInt32
    /// The group id (the user's primary group).
    package var gid: UInt32

    /// Creates an identity.
    package init(name: String, uid: UInt32, gid: UInt32) {
        self.name = name
        self.uid = uid
        self.gid = gid
    }

    /// The package's dedicated user.
    package static let dedicatedUser = "dkms-build"
    /// The fallback when the dedicated user does not exist.
    package static let nobody = BuildIdentity(name: "nobody", uid: 65534, gid: 65534)

    package var description: String { "\(name) (\(uid):\(gid))" }

    /// The identity for `user` (`build_user`, empty for the dedicated
    /// user): that user if it exists and is not root, else `nobody`.
    /// - Parameter lookUp: finds a user's uid and primary gid by name.
    package static func resolve(user: String, lookUp: (String) -> (uid: UInt32, gid: UInt32)? = BuildIdentity.passwordEntry) -> BuildIdentity {
        let name = user.isEmpty ? dedicatedUser : user
        if let found = lookUp(name), found.uid != 0, found.gid != 0 {
            return BuildIdentity(name: name, uid: found.uid, gid: found.gid)
        }
        if let found = lookUp("nobody"), found.uid != 0, found.gid != 0 {
            return BuildIdentity(name: "nobody", uid: found.uid, gid: found.gid)
        }
        return nobody
    }

    /// The uid and primary gid of a user in the password database.
    package static func passwordEntry(_ name: String) -> (uid: UInt32, gid: UInt32)? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return (entry.pw_uid, entry.pw_gid)
    }

    /// setpriv's arguments that make the rest of the command line run as
    /// this identity: no supplementary group, no capability (inheritable,
    /// ambient or bounding), and `no_new_privs` so no setuid program
    /// gives any back. Up to and including `--`.
    package func setprivArguments() -> [String] {
        ["--reuid", String(uid), "--regid", String(gid), "--clear-groups",
         "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    }

    /// The first directory on the way to `path` (and `path` itself) that
    /// this identity may not enter, with its permission bits; nil when it
    /// can reach `path`. Checked on the real path (links resolved) of
    /// `path` or of its nearest existing ancestor, with the identity's one
    /// group (builds have no supplementary group).
    /// - Parameter fileSystem: where the path is resolved (owners and
    ///   modes are then read from the disk).
    package func barrier(to path: String, fileSystem: any FileSystemAccess = LocalFileSystem()) -> (directory: String, mode: mode_t)? {
        var existing = path
        while existing.count > 1 && !fileSystem.exists(existing) { existing = FileSystem.split(existing).directory }
        guard let real = fileSystem.realPath(existing) else { return nil }
        var directories = ["/"]
        for component in real.split(separator: "/") { directories.append((directories.count == 1 ? "" : directories.last!) + "/" + component) }
        for directory in directories {
            var st = stat()
            guard stat(directory, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { continue }
            let search: mode_t = st.st_uid == uid ? 0o100 : (st.st_gid == gid ? 0o010 : 0o001)
            if st.st_mode & search == 0 { return (directory, st.st_mode & 0o7777) }
        }
        return nil
    }
}
