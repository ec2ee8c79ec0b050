import Foundation

/// What a command printed and how it ended.
package struct CommandResult: Sendable, CustomStringConvertible {
    /// Standard output.
    package var stdout: String
    /// Standard error.
    package var stderr: String
    /// Standard output and error as they interleaved (both on one pipe),
    /// which is how upstream's test suite compares output.
    package var combined: String
    /// The exit status.
    package var status: Int32

    /// Standard output without the progress dots dkms prints every three
    /// seconds while a long build runs (a run of dots is cut to three).
    package var stdoutWithoutProgressDots: String {
        var text = stdout
        while text.contains("....") { text = text.replacingOccurrences(of: "....", with: "...") }
        return text
    }

    package var description: String {
        "status \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)"
    }
}

/// Runs programs for tests.
package enum CommandRunner {
    /// Runs `executable` with `arguments`, capturing output separately.
    package static func run(_ executable: String, _ arguments: [String], environment: [String: String],
                           workingDirectory: String? = nil) -> CommandResult {
        execute(executable, arguments, environment: environment, workingDirectory: workingDirectory, merged: false)
    }

    /// Runs with standard output and error on one pipe, so `combined`
    /// keeps their real order.
    package static func runMerged(_ executable: String, _ arguments: [String], environment: [String: String],
                                 workingDirectory: String? = nil) -> CommandResult {
        execute(executable, arguments, environment: environment, workingDirectory: workingDirectory, merged: true)
    }

    private static func execute(_ executable: String, _ arguments: [String], environment: [String: String],
                                workingDirectory: String?, merged: Bool) -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        let out = Pipe()
        let err = merged ? out : Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let outData = ReadBuffer(out.fileHandleForReading)
        let errData = merged ? nil : ReadBuffer(err.fileHandleForReading)
        do { try process.run() } catch {
            return CommandResult(stdout: "", stderr: "\(error)", combined: "\(error)", status: 127)
        }
        process.waitUntilExit()
        let stdout = outData.finish()
        let stderr = errData?.finish() ?? ""
        if merged {
            return CommandResult(stdout: "", stderr: "", combined: stdout, status: process.terminationStatus)
        }
        return CommandResult(stdout: stdout, stderr: stderr, combined: stdout + stderr, status: process.terminationStatus)
    }
}

/// Drains a pipe on a background thread so a chatty child never blocks.
final class ReadBuffer: @unchecked Sendable {
    private let handle: FileHandle
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        self.handle = handle
        Thread.detachNewThread { [self] in
            self.data = self.handle.readDataToEndOfFile()
            self.done.signal()
        }
    }

    func finish() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}
