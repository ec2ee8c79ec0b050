#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An exclusive lock on the dkms tree (`flock` on `$dkms_tree/.lock`),
/// held for the whole of a command that changes the trees. The kernel
/// releases it when the process ends, however it ends.
///
/// A dkms run by the holder itself (``InheritedLock``) does not take the
/// lock: it ``join()``s it, with a shared `flock` on the tree directory.
/// The holder, before it releases the lock, and every new holder, once it
/// has it, wait until no such nested command runs (an exclusive `flock` on
/// the directory), so that a nested writer that outlives its parent (a
/// background `dkms autoinstall &`) still runs alone.
package final class TreeLock {
    /// The environment variable that tells child processes (scripts dkms
    /// runs, which may run dkms again) that an ancestor holds the lock
    /// (its value: ``InheritedLock``).
    package static let heldVariable = "DKMS_TREE_LOCK_HELD"

    /// The lock file.
    package let path: String
    /// The tree directory, which nested commands lock shared.
    private let tree: String
    private var descriptor: Int32 = -1
    /// The tree directory, locked shared while a nested command runs.
    private var joinedDescriptor: Int32 = -1
    /// Whether ``release()`` waits for the nested commands first (the lock
    /// was taken by ``acquire(waiting:)``).
    private var waitsForNested = false

    /// Creates (but does not take) the lock of a tree.
    package init(dkmsTree: String) {
        tree = dkmsTree
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
            waiting(Self.holder(reading: fd))
            while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pwrite(fd, pid, pid.utf8.count, 0)
        // A nested command of the previous holder may still run (its
        // holder was killed): wait for it before settling the journal.
        waitForNestedCommands()
        waitsForNested = true
        return true
    }

    /// Waits until no nested command (``join()``) runs on the tree. Does
    /// nothing when the directory cannot be locked (a file system without
    /// `flock` on directories).
    private func waitForNestedCommands() {
        let fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
    }

    /// Whether a nested command (``join()``) runs on the tree now.
    private func nestedCommandsRun() -> Bool {
        let fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }

    /// The PID the lock file names when the lock is held by another process
    /// (0 when it names none); nil when the lock is free or the file cannot
    /// be opened. Never waits.
    package func busyHolder() -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard flock(fd, LOCK_SH | LOCK_NB) != 0 else {
            flock(fd, LOCK_UN)
            return nil
        }
        return errno == EWOULDBLOCK ? Self.holder(reading: fd) : nil
    }

    /// Registers this process as a command nested in the holder's (a
    /// shared `flock` on the tree directory, kept until ``release()`` or
    /// the process ends), waiting while the holder is releasing the lock.
    /// The caller checks again afterwards that the holder still holds it.
    package func join() {
        let fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        while flock(fd, LOCK_SH) != 0 && errno == EINTR {}
        joinedDescriptor = fd
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

    /// Takes the lock only if nobody holds it and no nested command of a
    /// previous holder still runs (``join()``); never waits.
    package func tryAcquire() -> Attempt {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return .unavailable }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0, !nestedCommandsRun() else {
            defer { close(fd) }
            return .busy(Self.holder(reading: fd))
        }
        descriptor = fd
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pwrite(fd, pid, pid.utf8.count, 0)
        return .acquired
    }

    /// The PID the last holder wrote into the lock file, read through the
    /// descriptor this process opened it with (0 when unknown). The lock
    /// is a kernel object on a real descriptor, so the file is read there
    /// rather than through a file-system value.
    private static func holder(reading descriptor: Int32) -> Int32 {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64)
        while bytes.count < 4096 {
            let count = chunk.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(bytes.count)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return Int32(String(decoding: bytes, as: UTF8.self).trimmingTrailingNewlines()) ?? 0
    }

    /// Releases the lock (or leaves it, for a nested command), once the
    /// nested commands of this holder have ended.
    package func release() {
        if joinedDescriptor >= 0 {
            flock(joinedDescriptor, LOCK_UN)
            close(joinedDescriptor)
            joinedDescriptor = -1
        }
        guard descriptor >= 0 else { return }
        if waitsForNested {
            waitForNestedCommands()
            waitsForNested = false
        }
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }
}
