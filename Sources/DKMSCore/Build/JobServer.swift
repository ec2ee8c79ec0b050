#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One job budget for a whole dkms command, shared with every make it
/// starts through GNU make's jobserver protocol.
///
/// The budget is a named pipe holding `N` one-byte tokens. Inside the build
/// jobs a `make` wrapper drops the `-jN` of upstream's command line, takes
/// one token for the make's own first job (which GNU make would otherwise
/// run for free), and hands the pipe to make as its jobserver for the
/// others, so at most `N` compilations run across all builds. Build jobs
/// themselves need no token: up to `2N` run at once, so one job's serial
/// steps (configuration, copying, linking) overlap the others' compiling.
package final class JobServer: @unchecked Sendable {
    /// The number of jobs that may run at once.
    package let size: Int
    /// The named pipe.
    package let fifo: String
    /// A directory holding the `make` wrapper, to put first on `PATH`.
    package let wrapperDirectory: String
    private let descriptor: Int32
    /// Where its directory and wrapper are made (the pipe is the kernel's).
    private let fileSystem: any FileSystemAccess
    private let lock = Mutex()
    private var runningJobs = 0

    /// Creates the jobserver in `directory`; nil when it cannot.
    package init?(size: Int, directory: String, realMake: String, fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.fileSystem = fileSystem
        guard size > 1, let base = fileSystem.makeTemporaryDirectory(template: "\(directory)/dkms-jobserver.XXXXXX") else { return nil }
        fifo = base + "/tokens"
        wrapperDirectory = base + "/bin"
        guard mkfifo(fifo, 0o600) == 0 else { fileSystem.removeTree(base); return nil }
        descriptor = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { fileSystem.removeTree(base); return nil }
        self.size = size
        let tokens = [UInt8](repeating: UInt8(ascii: "+"), count: size)
        _ = tokens.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        fileSystem.makeDirectories(wrapperDirectory)
        fileSystem.writeText(Self.wrapper(realMake: realMake, fifo: fifo), to: wrapperDirectory + "/make")
        fileSystem.setMode(0o755, of: wrapperDirectory + "/make")
    }

    deinit {
        close(descriptor)
        fileSystem.removeTree(FileSystem.split(fifo).directory)
    }

    /// The wrapper: drop `-j`/`-jN`, open the token pipe as fd 3 and hand
    /// it to make as its jobserver.
    static func wrapper(realMake: String, fifo: String) -> String {
        """
        #!/bin/bash
        # Joins the jobserver of the dkms command that started this build.
        args=()
        for arg in "$@"; do
            case $arg in
                -j|-j[0-9]*|--jobs|--jobs=*) ;;
                *) args+=("$arg") ;;
            esac
        done
        exec 3<>\(ShellText.quote(fifo))
        # The make's own first job runs on a token too.
        IFS= read -r -n 1 -u 3 token
        trap 'printf %s "${token:-+}" >&3' EXIT
        export MAKEFLAGS="${MAKEFLAGS:+$MAKEFLAGS }-j --jobserver-auth=3,3"
        \(ShellText.quote(realMake)) "${args[@]}"

        """
    }

    /// Lets builds that run as `identity` use the token pipe (it becomes
    /// theirs; the directory that holds it stays root's).
    package func admit(_ identity: BuildIdentity) {
        _ = lchown(fifo, identity.uid, identity.gid)
        fileSystem.setMode(0o755, of: FileSystem.split(fifo).directory)
    }

    /// Takes one of the `2N` build-job places, waiting for one.
    package func acquire() async {
        while !lock.withLock({ () -> Bool in
            if runningJobs < 2 * size { runningJobs += 1; return true }
            return false
        }) {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// Gives a build-job place back.
    package func release() {
        lock.withLock { runningJobs -= 1 }
    }
}

/// A small pthread mutex.
final class Mutex: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}
