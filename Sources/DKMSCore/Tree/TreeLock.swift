#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An exclusive lock on the dkms tree (`flock` on `$dkms_tree/.lock`),
/// held for the whole of a command that changes the trees. The kernel
/// releases it when the process ends, however it ends.
package final class TreeLock {
    /// The environment variable that tells child processes (scripts dkms
    /// runs, which may run dkms again) that an ancestor holds the lock.
    package static let heldVariable = "DKMS_TREE_LOCK_HELD"

    /// The lock file.
    package let path: String
    private var descriptor: Int32 = -1

    /// Creates (but does not take) the lock of a tree.
    package init(dkmsTree: String) {
        path = dkmsTree + "/.lock"
    }

    deinit { release() }

    /// Takes the lock, waiting for its holder if needed.
    /// - Parameter waiting: called once with the holder's PID (0 when
    ///   unknown) before blocking.
    /// - Returns: false when the lock file cannot be opened (no tree, or
    ///   no write access); the command then fails on its own terms.
    @discardableResult
    package func acquire(waiting: (Int32) -> Void) -> Bool {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        descriptor = fd
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let text = FileSystem.readText(path)?.trimmingTrailingNewlines() ?? ""
            waiting(Int32(text) ?? 0)
            while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pwrite(fd, pid, pid.utf8.count, 0)
        return true
    }

    /// What ``tryAcquire()`` found.
    package enum Attempt: Equatable {
        /// The lock is now held by this process.
        case acquired
        /// Another process holds it (its PID, 0 when unknown).
        case busy(Int32)
        /// The lock file cannot be opened (no tree, or no write access).
        case unavailable
    }

    /// Takes the lock only if nobody holds it; never waits.
    package func tryAcquire() -> Attempt {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return .unavailable }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return .busy(Self.holder(of: path))
        }
        descriptor = fd
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pwrite(fd, pid, pid.utf8.count, 0)
        return .acquired
    }

    /// The PID the last holder wrote into the lock file (0 when unknown).
    package static func holder(of path: String) -> Int32 {
        Int32(FileSystem.readText(path)?.trimmingTrailingNewlines() ?? "") ?? 0
    }

    /// Releases the lock.
    package func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }
}
