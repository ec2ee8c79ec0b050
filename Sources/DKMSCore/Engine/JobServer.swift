#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One job budget for a whole dkms command, shared with every make it
/// starts through GNU make's jobserver protocol.
///
/// The budget is a named pipe holding `N - 1` one-byte tokens (the first
/// job runs on the implicit token, as make's own jobs do). dkms takes a
/// token before starting each further build job; inside the jobs, a
/// `make` wrapper drops the `-jN` that upstream's command line carries and
/// joins the shared jobserver instead, so nested makes never multiply it.
public final class JobServer: @unchecked Sendable {
    /// The number of jobs that may run at once.
    public let size: Int
    /// The named pipe.
    public let fifo: String
    /// A directory holding the `make` wrapper, to put first on `PATH`.
    public let wrapperDirectory: String
    private let descriptor: Int32
    private let lock = Mutex()
    private var implicitFree = true

    /// Creates the jobserver in `directory`; nil when it cannot.
    public init?(size: Int, directory: String, realMake: String) {
        guard size > 1, let base = FileSystem.makeTemporaryDirectory(template: "\(directory)/dkms-jobserver.XXXXXX") else { return nil }
        fifo = base + "/tokens"
        wrapperDirectory = base + "/bin"
        guard mkfifo(fifo, 0o600) == 0 else { FileSystem.removeTree(base); return nil }
        descriptor = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { FileSystem.removeTree(base); return nil }
        self.size = size
        let tokens = [UInt8](repeating: UInt8(ascii: "+"), count: size - 1)
        _ = tokens.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        FileSystem.makeDirectories(wrapperDirectory)
        FileSystem.writeText(Self.wrapper(realMake: realMake, fifo: fifo), to: wrapperDirectory + "/make")
        FileSystem.setMode(0o755, of: wrapperDirectory + "/make")
    }

    deinit {
        close(descriptor)
        FileSystem.removeTree(FileSystem.split(fifo).directory)
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
        export MAKEFLAGS="${MAKEFLAGS:+$MAKEFLAGS }-j --jobserver-auth=3,3"
        exec \(ShellText.quote(realMake)) "${args[@]}"

        """
    }

    /// Takes a job slot: the implicit one if free, otherwise a token from
    /// the pipe (waiting for one). Returns whether a token was taken.
    public func acquire() async -> Bool {
        if lock.withLock({ () -> Bool in
            if implicitFree { implicitFree = false; return true }
            return false
        }) { return false }
        var byte: UInt8 = 0
        while read(descriptor, &byte, 1) != 1 {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return true
    }

    /// Gives a slot back.
    public func release(token: Bool) {
        if token {
            var byte = UInt8(ascii: "+")
            _ = write(descriptor, &byte, 1)
        } else {
            lock.withLock { implicitFree = true }
        }
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
