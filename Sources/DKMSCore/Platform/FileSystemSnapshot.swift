#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// What one read-only command (`dkms status`) learnt about paths, so that it
/// asks the kernel once per path: `stat`, `lstat`, `readlink`, `access` and
/// directory listings are remembered for as long as the snapshot is
/// ``current``. A listing also answers `lstat` of its entries from their
/// `d_type` (and "absent" for names it does not hold), so a directory read
/// once answers the `-d`/`-L` tests of everything in it.
///
/// Only the static ``FileSystem`` primitives consult it (and so
/// ``LocalFileSystem``); a snapshot is installed around reads that change
/// nothing (``FileSystemSnapshot/reading(_:)``), one per attempt of a
/// committed read, so what it remembers is never older than the attempt
/// whose stability ``readingCommittedState`` checks.
package final class FileSystemSnapshot: Sendable {
    /// The snapshot the reads of this task go through, if any.
    @TaskLocal package static var current: FileSystemSnapshot?

    /// Runs `body` with a fresh snapshot in force.
    package static func reading<T>(_ body: () async throws -> T) async rethrows -> T {
        try await $current.withValue(FileSystemSnapshot()) { try await body() }
    }

    /// Runs `body` with no snapshot in force, so that it asks the kernel:
    /// for what must see changes made during a read (a committed read's
    /// generation, taken before and after each attempt).
    package static func bypassing<T>(_ body: () throws -> T) rethrows -> T {
        try $current.withValue(nil) { try body() }
    }

    /// What `lstat` says a path is.
    enum Kind: Sendable {
        case directory, regular, symlink, other, absent
    }

    /// What `stat` says (following links).
    struct Status: Sendable {
        var kind: Kind
        var device: UInt64
        var inode: UInt64
        var size: Int
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
    }

    private struct State {
        var statuses: [String: Status?] = [:]
        var linkKinds: [String: Kind] = [:]
        var listings: [String: [String: Kind?]] = [:]
        var order: [String: [String]] = [:]
        var unlistable: Set<String> = []
        var links: [String: String?] = [:]
        var readable: [String: Bool] = [:]
    }

    private let state = Synchronization.Mutex(State())

    package init() {}

    private static func kind(_ mode: mode_t) -> Kind {
        switch mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .regular
        case S_IFLNK: return .symlink
        default: return .other
        }
    }

    /// `lstat`'s kind of `path`, from a listing of its directory when there
    /// is one, else asked once.
    func linkKind(_ path: String) -> Kind {
        if let known = state.withLock({ $0.linkKinds[path] }) { return known }
        if let listed = listedKind(path) { return listed }
        var st = stat()
        let kind = lstat(path, &st) == 0 ? Self.kind(st.st_mode) : .absent
        state.withLock {
            $0.linkKinds[path] = kind
            // What is not a link, `stat` sees as `lstat` did.
            if kind != .symlink { $0.statuses[path] = kind == .absent ? .some(nil) : Self.status(st, kind) }
        }
        return kind
    }

    /// The kind a listing of the parent gives: nil when the parent was not
    /// listed or the entry's type was not reported.
    private func listedKind(_ path: String) -> Kind? {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return nil }
        let parent = String(path[..<slash])
        let name = String(path[path.index(after: slash)...])
        guard !parent.isEmpty, !name.isEmpty, name != ".", name != ".." else { return nil }
        return state.withLock { state -> Kind? in
            guard let listing = state.listings[parent] else { return nil }
            guard let entry = listing[name] else { return .absent }
            return entry
        }
    }

    /// `stat` of `path` (nil when it fails), asked once.
    func status(_ path: String) -> Status? {
        if let known = state.withLock({ $0.statuses[path] }) { return known }
        var st = stat()
        let result: Status? = stat(path, &st) == 0 ? Self.status(st, Self.kind(st.st_mode)) : nil
        state.withLock { $0.statuses[path] = result }
        return result
    }

    private static func status(_ st: stat, _ kind: Kind) -> Status {
        Status(kind: kind, device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int(st.st_size),
               modifiedSeconds: Int(st.st_mtim.tv_sec), modifiedNanoseconds: Int(st.st_mtim.tv_nsec))
    }

    /// The kind `stat` gives (`.absent` when it fails): a path that is not
    /// a link is what `lstat` said; only a link is followed.
    func followedKind(_ path: String) -> Kind {
        let own = linkKind(path)
        guard own == .symlink else { return own }
        return status(path)?.kind ?? .absent
    }

    /// `readlink`, asked once; nil without asking for what is not a link.
    func readLink(_ path: String) -> String?? {
        if let known = state.withLock({ $0.links[path] }) { return .some(known) }
        if let own = state.withLock({ $0.linkKinds[path] }) ?? listedKind(path), own != Kind.symlink { return .some(nil) }
        return nil
    }

    func remember(link target: String?, of path: String) {
        state.withLock { $0.links[path] = target }
    }

    /// `access(path, R_OK)`, asked once.
    func isReadable(_ path: String) -> Bool {
        if let known = state.withLock({ $0.readable[path] }) { return known }
        let answer = access(path, R_OK) == 0
        state.withLock { $0.readable[path] = answer }
        return answer
    }
}

extension FileSystemSnapshot {
    /// The entries of a directory in `readdir` order (empty when it cannot
    /// be read), listed once with `readdir`'s `d_type`: the types answer
    /// later `lstat` questions about the entries.
    func list(_ path: String) -> [String] {
        if let known = state.withLock({ state -> [String]? in
            if state.unlistable.contains(path) { return [] }
            return state.order[path]
        }) { return known }
        guard let dir = opendir(path) else {
            state.withLock { _ = $0.unlistable.insert(path) }
            return []
        }
        defer { closedir(dir) }
        var names: [String] = []
        var kinds: [String: Kind?] = [:]
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard name != "." && name != ".." else { continue }
            names.append(name)
            switch Int32(entry.pointee.d_type) {
            case Int32(DT_DIR): kinds[name] = .some(.directory)
            case Int32(DT_REG): kinds[name] = .some(.regular)
            case Int32(DT_LNK): kinds[name] = .some(.symlink)
            case Int32(DT_UNKNOWN): kinds[name] = .some(nil)
            default: kinds[name] = .some(.other)
            }
        }
        // The types answer for the entries only where `lstat` of an entry
        // would succeed: in a directory that can be read but not searched
        // (`r--`), `readdir` works and `lstat` fails, so its entries are
        // left to `lstat` (absent, as before the snapshot).
        let searchable = faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0
        state.withLock {
            $0.order[path] = names
            if searchable { $0.listings[path] = kinds }
        }
        return names
    }
}
