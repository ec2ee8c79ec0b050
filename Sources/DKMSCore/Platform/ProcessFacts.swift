#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Facts about the dkms process itself, read from `/proc` and the
/// process's own identity (not from the trees, so not through an injected
/// file system).
enum ProcessFacts {
    /// Whether dkms runs inside a chroot (Debian's `ischroot` logic). When
    /// the root of process 1 cannot be examined, the answer is yes, as
    /// upstream concludes, but without its error message.
    static func runningInChroot() -> Bool {
        let env = ProcessEnvironment.current
        if env["FAKECHROOT"] == "true" && env["FAKECHROOT_BASE"] != nil && (env["LD_PRELOAD"] ?? "").contains("libfakechroot.so") {
            return true
        }
        if FileSystem.isReadable("/proc/1/mountinfo") && FileSystem.isReadable("/proc/self/mountinfo") {
            if FileSystem.readBytes("/proc/1/mountinfo") != FileSystem.readBytes("/proc/self/mountinfo") { return true }
        }
        if getuid() == 0 {
            var initRoot = stat()
            var ourRoot = stat()
            guard stat("/proc/1/root", &initRoot) == 0, stat("/", &ourRoot) == 0 else { return true }
            if initRoot.st_dev != ourRoot.st_dev || initRoot.st_ino != ourRoot.st_ino { return true }
        }
        return false
    }

    /// The parent of our parent process.
    static func grandparentPID() -> Int32? {
        let parent = getppid()
        guard let status = FileSystem.readText("/proc/\(parent)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("PPid:") {
            return Int32(line.dropFirst(5).trimmingCharacters())
        }
        return nil
    }
}
