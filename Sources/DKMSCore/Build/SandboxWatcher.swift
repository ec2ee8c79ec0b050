#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The root-owned process around every sandboxed step, and what dkms
/// keeps to end it: the step dies with dkms, and at a limit.
///
/// The watcher is a small bash script outside the sandbox. Its standard
/// input is the *lifeline*, a pipe whose write end only dkms holds
/// (close-on-exec, so no other child inherits it). It starts bubblewrap
/// (with `--die-with-parent` relative to itself, a single-threaded process,
/// never relative to dkms' threads) and waits for end of file on the
/// lifeline: it comes when dkms dies, however it dies, or when dkms closes
/// the lifeline to stop the build at a limit. Then it kills bubblewrap;
/// the kernel kills the first process of the build's PID namespace with
/// it, and every process of the namespace with that one. The build runs
/// as another user and can signal neither the watcher nor bubblewrap.
///
/// The watcher also sets the kernel's per-process backstops (rlimits:
/// processes of the build user, address space), at twice the limits that
/// dkms itself enforces by watching the build (``BuildMonitor``), so that
/// the error names the limit in all but the fastest runaways.
package enum SandboxWatcher {
    /// The watcher: `bash -c SCRIPT dkms-sandbox INFO NPROC AS_KB COMMAND...`,
    /// with the lifeline as standard input. INFO is the file bubblewrap
    /// writes its `--info-fd 4` into; NPROC and AS_KB are rlimits (0: none).
    package static let script = """
        info=$1 nproc=$2 askb=$3
        shift 3
        exec 3<&0 </dev/null
        (( nproc > 0 )) && ulimit -u "$nproc"
        (( askb > 0 )) && ulimit -v "$askb"
        "$@" 3<&- 4>"$info" &
        child=$!
        { while read -r -u 3 _; do :; done; kill -KILL "$child" 2>/dev/null; } &
        guard=$!
        exec 3<&-
        wait "$child"
        status=$?
        exec 2>/dev/null
        kill -KILL "$guard"
        wait "$guard"
        exit "$status"
        """

    /// The watcher's command line (program and arguments) around
    /// `command` (bubblewrap and its arguments).
    package static func commandLine(bash: String, infoFile: String, limits: BuildLimits, command: [String]) -> [String] {
        let nproc = limits.maxProcesses > 0 ? 2 * limits.maxProcesses : 0
        let addressSpaceKB = limits.maxMemory > 0 ? 2 * (limits.maxMemory / 1024) : 0
        return [bash, "-c", script, "dkms-sandbox", infoFile, String(nproc), String(addressSpaceKB)] + command
    }

    /// `systemd-run --scope` arguments that put the step in a transient
    /// scope whose cgroup has the kernel's hard limits (twice dkms' own,
    /// as the rlimits are), for hosts where systemd is PID 1. Up to and
    /// including `--`.
    package static func scopeArguments(limits: BuildLimits) -> [String] {
        var arguments = ["--scope", "--quiet", "--collect"]
        if limits.maxProcesses > 0 { arguments += ["-p", "TasksMax=\(2 * limits.maxProcesses + 8)"] }
        if limits.maxMemory > 0 { arguments += ["-p", "MemoryMax=\(2 * limits.maxMemory)", "-p", "MemorySwapMax=0"] }
        return arguments + ["--"]
    }
}

/// The connection whose one end only dkms holds (see ``SandboxWatcher``):
/// a socket pair made close-on-exec atomically, so that no child started
/// at the same moment by another build inherits dkms' end.
package final class Lifeline: @unchecked Sendable {
    /// The watcher's end, its standard input.
    package let readEnd: CInt
    private var writeEnd: CInt
    private let lock = Mutex()

    /// Opens a lifeline; nil when no socket pair can be made.
    package init?() {
        var ends: [CInt] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else { return nil }
        readEnd = ends[0]
        writeEnd = ends[1]
    }

    /// Closes dkms' end: the watcher kills the step. Idempotent.
    package func cut() {
        lock.withLock {
            if writeEnd >= 0 { close(writeEnd) }
            writeEnd = -1
        }
    }

    deinit {
        cut()
        close(readEnd)
    }
}

/// Watches one running sandboxed step: the build's deadline, and the
/// number and resident memory of the processes in its PID namespace
/// (found through the first process' pid that bubblewrap reports with
/// `--info-fd`). At a limit it cuts the lifeline and says which limit.
package struct BuildMonitor: Sendable {
    /// The limits.
    package var limits: BuildLimits
    /// When the build's time is up (monotonic nanoseconds), or nil.
    package var deadline: UInt64?
    /// The file bubblewrap writes `{"child-pid": N}` into.
    package var infoFile: String
    /// Nanoseconds between two looks.
    package var interval: UInt64 = 200_000_000
    /// Where the info file and `/proc` are read (namespaces and private
    /// `/tmp` sizes are asked of the kernel directly).
    package var fileSystem: any FileSystemAccess = LocalFileSystem()

    /// Watches until cancelled (the step ended) or a limit is met; then
    /// cuts `lifeline` and returns the limit.
    package func watch(_ lifeline: Lifeline) async -> BuildLimits.Kind? {
        var namespace: (dev: UInt64, ino: UInt64)?
        var firstProcess: Int32?
        while !Task.isCancelled {
            let now = Self.monotonicNanoseconds()
            if let deadline, now >= deadline {
                lifeline.cut()
                return .time
            }
            var pause = interval
            if let deadline { pause = min(pause, deadline - now) }
            do { try await Task.sleep(nanoseconds: pause) } catch { return nil }
            if namespace == nil, let pid = Self.childPid(infoFile: infoFile, fileSystem: fileSystem) {
                namespace = Self.pidNamespace(of: pid)
                firstProcess = pid
            }
            guard let namespace, let firstProcess, limits.maxProcesses > 0 || limits.maxMemory > 0 else { continue }
            var usage = Self.usage(namespace: namespace, fileSystem: fileSystem)
            if limits.maxMemory > 0 {
                let (sum, overflow) = usage.memory.addingReportingOverflow(
                    Self.privateFileSystemBytes(of: firstProcess, namespace: namespace))
                usage.memory = overflow ? Int.max : sum
            }
            if limits.maxProcesses > 0 && usage.processes > limits.maxProcesses {
                lifeline.cut()
                return .processes
            }
            if limits.maxMemory > 0 && usage.memory > limits.maxMemory {
                lifeline.cut()
                return .memory
            }
        }
        return nil
    }

    /// The `child-pid` bubblewrap wrote, if it has.
    static func childPid(infoFile: String, fileSystem: any FileSystemAccess = LocalFileSystem()) -> Int32? {
        guard let text = fileSystem.readText(infoFile), let key = text.firstRange(of: "\"child-pid\"") else { return nil }
        let digits = text[key.upperBound...].drop { $0 == ":" || $0 == " " }.prefix { $0.isNumber }
        return Int32(digits)
    }

    /// The PID namespace of a process (device and inode of its ns link).
    static func pidNamespace(of pid: Int32) -> (dev: UInt64, ino: UInt64)? {
        var st = stat()
        guard stat("/proc/\(pid)/ns/pid", &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// The processes of a PID namespace and their resident memory that
    /// is not shared with files (`statm`'s resident minus shared pages).
    static func usage(namespace: (dev: UInt64, ino: UInt64),
                      fileSystem: any FileSystemAccess = LocalFileSystem()) -> (processes: Int, memory: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var processes = 0, memory = 0
        for name in fileSystem.entries(of: "/proc") where name.first?.isNumber == true {
            var st = stat()
            guard stat("/proc/\(name)/ns/pid", &st) == 0, UInt64(st.st_dev) == namespace.dev, UInt64(st.st_ino) == namespace.ino else { continue }
            processes += 1
            if let statm = fileSystem.readText("/proc/\(name)/statm") {
                let fields = statm.split(separator: " ")
                if fields.count > 2, let resident = Int(fields[1]), let shared = Int(fields[2]) {
                    memory += max(0, resident - shared) * page
                }
            }
        }
        return (processes, memory)
    }

    /// What the step's private `/tmp` and `/var/tmp` hold (they are
    /// memory), seen through its first process' root.
    ///
    /// Only a private one counts: a file system on another device than
    /// this process' own `/tmp` and `/var/tmp`, seen through a process
    /// still in the step's PID namespace. Between bubblewrap reporting its child and
    /// the child mounting its tmpfs, `/proc/PID/root/tmp` is the host's
    /// (and after the child ends its pid may name a host process): counting
    /// that stopped a small build whose host disk held more than the limit.
    static func privateFileSystemBytes(of pid: Int32, namespace: (dev: UInt64, ino: UInt64)?) -> Int {
        if let namespace {
            guard let current = pidNamespace(of: pid), current == namespace else { return 0 }
        }
        var hostDevices: Set<UInt64> = []
        for directory in ["/tmp", "/var/tmp"] {
            var own = stat()
            if stat(directory, &own) == 0 { hostDevices.insert(UInt64(own.st_dev)) }
        }
        var total = 0
        for directory in ["/tmp", "/var/tmp"] {
            let path = "/proc/\(pid)/root\(directory)"
            var st = stat()
            guard stat(path, &st) == 0, !hostDevices.contains(UInt64(st.st_dev)) else { continue }
            var fs = statvfs()
            guard statvfs(path, &fs) == 0, fs.f_blocks >= fs.f_bfree else { continue }
            let (used, tooLarge) = (fs.f_blocks - fs.f_bfree).multipliedReportingOverflow(by: fs.f_frsize)
            let (sum, overflow) = total.addingReportingOverflow(tooLarge ? Int.max : Int(clamping: used))
            total = overflow ? Int.max : sum
        }
        return total
    }

    /// CLOCK_MONOTONIC in nanoseconds.
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
