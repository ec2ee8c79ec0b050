#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Subprocess
import SystemPackage

/// Where a child process' standard output goes.
package enum ProcessOutputTarget: Sendable, Equatable {
    /// The dkms process' own stream (the child writes to the terminal).
    case inherit
    /// `/dev/null`.
    case discard
    /// Collected and returned in ``ProcessOutcome``.
    case capture
    /// Appended to a file (`>> file`).
    case appendToFile(String)
}

/// Where a child process' standard error goes.
package enum ProcessErrorTarget: Sendable, Equatable {
    /// The dkms process' own standard error.
    case inherit
    /// `/dev/null`.
    case discard
    /// Collected and returned in ``ProcessOutcome``.
    case capture
    /// The same place as standard output (`2>&1`).
    case mergeWithOutput
}

/// Where a child process' standard input comes from.
package enum ProcessInputTarget: Sendable, Equatable {
    /// `/dev/null`.
    case none
    /// An open descriptor of dkms (dkms keeps it open; the child gets a copy).
    case fileDescriptor(CInt)
}

/// A description of one child process to run.
package struct ProcessSpec: Sendable {
    /// A program name looked up in `PATH`, or a path.
    package var executable: String
    /// The arguments, without the program name.
    package var arguments: [String]
    /// The complete environment of the child.
    package var environment: [String: String]
    /// The working directory, or nil for the current one.
    package var workingDirectory: String?
    /// Standard output.
    package var output: ProcessOutputTarget
    /// Standard error.
    package var error: ProcessErrorTarget
    /// Standard input (`/dev/null` unless set).
    package var input: ProcessInputTarget = .none

    /// Creates a process description.
    package init(
        _ executable: String,
        _ arguments: [String] = [],
        environment: [String: String],
        workingDirectory: String? = nil,
        output: ProcessOutputTarget = .inherit,
        error: ProcessErrorTarget = .inherit
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.output = output
        self.error = error
    }
}

/// How a child process ended and what it printed (when captured).
package struct ProcessOutcome: Sendable {
    /// The shell-style status: the exit code, or 128 + signal number.
    package var status: Int32
    /// Captured standard output (empty unless captured).
    package var standardOutput: [UInt8]
    /// Captured standard error (empty unless captured).
    package var standardError: [UInt8]

    /// Creates an outcome.
    package init(status: Int32, standardOutput: [UInt8] = [], standardError: [UInt8] = []) {
        self.status = status
        self.standardOutput = standardOutput
        self.standardError = standardError
    }

    /// Captured standard output as text.
    package var outputText: String { String(decoding: standardOutput, as: UTF8.self) }
    /// Captured standard error as text.
    package var errorText: String { String(decoding: standardError, as: UTF8.self) }
}

/// Runs child processes. DKMSCore performs every external command
/// through this, so tests can observe or replace it.
package protocol ProcessRunning: Sendable {
    /// Runs the process to completion. A program that cannot be started
    /// yields status 127, as a shell would report it.
    func run(_ spec: ProcessSpec) async -> ProcessOutcome
}

/// The real runner, built on swift-subprocess. Output that is captured
/// goes through an in-memory file, so children can write any amount.
package struct SubprocessRunner: ProcessRunning {
    /// Creates the runner.
    package init() {}

    /// The first executable `name` in a `PATH`, as a shell finds it.
    static func lookUp(_ name: String, in path: String?) -> String? {
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + name
            if access(candidate, X_OK) == 0 && FileSystem.isRegularFile(candidate) { return candidate }
        }
        return nil
    }

    /// Opens a log for appending without following a symbolic link and
    /// only if it is a regular file: a build may have replaced its
    /// make.log with a link to a file only root may write, or a FIFO.
    static func openLog(_ path: String) -> CInt? {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o666)
        guard fd >= 0 else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return nil
        }
        _ = fcntl(fd, F_SETFL, O_WRONLY | O_APPEND)
        return fd
    }

    package func run(_ spec: ProcessSpec) async -> ProcessOutcome {
        var opened: [CInt] = []
        defer { for fd in opened { close(fd) } }
        func open(_ path: String, _ flags: CInt) -> CInt? {
            let fd = Glibc.open(path, flags | O_CLOEXEC, 0o666)
            guard fd >= 0 else { return nil }
            opened.append(fd)
            return fd
        }
        func memoryFile() -> CInt? {
            var template = Array("/tmp/.dkms-capture.XXXXXX".utf8CString)
            let fd = mkstemp(&template)
            guard fd >= 0 else { return nil }
            unlink(template)
            opened.append(fd)
            return fd
        }

        let outFD: CInt?
        switch spec.output {
        case .inherit: outFD = STDOUT_FILENO
        case .discard: outFD = open("/dev/null", O_WRONLY)
        case .capture: outFD = memoryFile()
        case .appendToFile(let path): outFD = Self.openLog(path).flatMap { fd in opened.append(fd); return fd }
        }
        var errFD: CInt? = nil
        switch spec.error {
        case .inherit: errFD = STDERR_FILENO
        case .discard: errFD = open("/dev/null", O_WRONLY)
        case .capture: errFD = memoryFile()
        case .mergeWithOutput: errFD = nil
        }
        guard let outFD, spec.error == .mergeWithOutput || errFD != nil else {
            return ProcessOutcome(status: 127)
        }

        // Looked up here rather than by trying to spawn each PATH entry.
        let resolved = spec.executable.contains("/") ? spec.executable : Self.lookUp(spec.executable, in: spec.environment["PATH"])
        let executable: Executable = resolved.map { .path(FilePath($0)) } ?? .name(spec.executable)
        var environment: [Environment.Key: String] = [:]
        for (key, value) in spec.environment {
            if let name = Environment.Key(rawValue: key) { environment[name] = value }
        }
        // A program run by name sees its name as argv[0], as under a shell
        // (tools print it in their messages).
        let arguments = spec.executable.contains("/")
            ? Arguments(spec.arguments)
            : Arguments(executablePathOverride: spec.executable, remainingValues: spec.arguments)
        let output = FileDescriptorOutput.fileDescriptor(FileDescriptor(rawValue: outFD), closeAfterSpawningProcess: false)
        var inputFD: CInt? = nil
        if case .fileDescriptor(let fd) = spec.input { inputFD = fd }
        let status: Int32
        do {
            let termination: TerminationStatus
            if let errFD {
                let error = FileDescriptorOutput.fileDescriptor(FileDescriptor(rawValue: errFD), closeAfterSpawningProcess: false)
                if let inputFD {
                    termination = try await Subprocess.run(
                        executable, arguments: arguments, environment: .custom(environment),
                        workingDirectory: spec.workingDirectory.map { FilePath($0) },
                        input: .fileDescriptor(FileDescriptor(rawValue: inputFD), closeAfterSpawningProcess: false),
                        output: output, error: error
                    ).terminationStatus
                } else {
                    termination = try await Subprocess.run(
                        executable, arguments: arguments, environment: .custom(environment),
                        workingDirectory: spec.workingDirectory.map { FilePath($0) },
                        output: output, error: error
                    ).terminationStatus
                }
            } else {
                if let inputFD {
                    termination = try await Subprocess.run(
                        executable, arguments: arguments, environment: .custom(environment),
                        workingDirectory: spec.workingDirectory.map { FilePath($0) },
                        input: .fileDescriptor(FileDescriptor(rawValue: inputFD), closeAfterSpawningProcess: false),
                        output: output, error: .combinedWithOutput
                    ).terminationStatus
                } else {
                    termination = try await Subprocess.run(
                        executable, arguments: arguments, environment: .custom(environment),
                        workingDirectory: spec.workingDirectory.map { FilePath($0) },
                        output: output, error: .combinedWithOutput
                    ).terminationStatus
                }
            }
            switch termination {
            case .exited(let code): status = code
            case .signaled(let signal): status = 128 + signal
            }
        } catch {
            status = 127
        }
        func drain(_ fd: CInt) -> [UInt8] {
            var result: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            lseek(fd, 0, SEEK_SET)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                result.append(contentsOf: chunk[0..<count])
            }
            return result
        }
        return ProcessOutcome(
            status: status,
            standardOutput: spec.output == .capture ? drain(outFD) : [],
            standardError: spec.error == .capture ? errFD.map(drain) ?? [] : []
        )
    }
}
