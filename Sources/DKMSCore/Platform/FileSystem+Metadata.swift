#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension FileSystem {
    /// The size in bytes of what a path names (not following a link), or nil.
    package static func size(of path: String) -> Int? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return Int(info.st_size)
    }

    /// The modification time of what a path names, in seconds since the
    /// epoch (not following a link), or nil.
    package static func modificationTime(of path: String) -> Int? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return Int(info.st_mtim.tv_sec)
    }

    /// The modification time in nanoseconds since the epoch (not
    /// following a link), or nil: orders changes within one second. Times
    /// beyond what fits (after 2262, before 1678) are clamped.
    package static func modificationStamp(of path: String) -> Int? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return CacheNumber.sum(CacheNumber.product(Int(info.st_mtim.tv_sec), 1_000_000_000), Int(info.st_mtim.tv_nsec))
    }

    /// What a path names (links followed) as its identity, size and
    /// modification time to the nanosecond, or nil when nothing is there:
    /// the stamp of a file in a memo's key. In a status read the snapshot
    /// answers (``FileSystemSnapshot``).
    package static func fileStamp(of path: String) -> String? {
        if let snapshot = FileSystemSnapshot.current {
            guard let info = snapshot.status(path) else { return nil }
            return "\(info.device):\(info.inode)\u{1}\(info.size)\u{1}\(info.modifiedSeconds).\(info.modifiedNanoseconds)"
        }
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\(info.st_dev):\(info.st_ino)\u{1}\(info.st_size)\u{1}\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }

    /// Seconds since the epoch now.
    package static func now() -> Int {
        Int(time(nil))
    }
}
