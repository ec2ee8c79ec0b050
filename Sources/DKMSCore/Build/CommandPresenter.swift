#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a logged command's output goes, given to the code that runs it.
package struct CommandOutput: Sendable {
    /// Standard output.
    package var output: ProcessOutputTarget
    /// Standard error.
    package var error: ProcessErrorTarget

    /// Where a command's output and errors go.
    package init(output: ProcessOutputTarget, error: ProcessErrorTarget) {
        self.output = output
        self.error = error
    }
}

/// Upstream's `invoke_command` for one console: shows `description...`
/// (or the command with `--verbose`), runs the work, appends a framed
/// record to a log when given, prints progress dots for long background
/// work, and finishes the line with ` done.` or `(bad exit status: N)`.
struct CommandPresenter: Sendable {
    /// Where the progress text goes.
    var console: any Console
    /// `--verbose`: commands are echoed and write to the terminal.
    var verbose: Bool
    /// Progress dots every three seconds (upstream skips them for its own
    /// `dkms*_test` modules).
    var progressDots: Bool
    /// Output that would go to the terminal is collected and written to
    /// the console instead, so a buffered console keeps it in order.
    var collectsTerminalOutput = false
    /// Where the log's framing and collected output are written and read.
    var fileSystem: any FileSystemAccess = LocalFileSystem()

    /// Runs `work` as `invoke_command` would.
    /// - Parameters:
    ///   - command: the command text shown in verbose mode, the log and on failure.
    ///   - description: the progress text.
    ///   - log: a file that receives the output, or nil.
    ///   - background: upstream's `background` mode (dots, output hidden).
    ///   - work: runs the command with the given output routing and returns its status.
    /// - Returns: the command's status.
    func invoke(
        _ command: String, description: String, log: String?, background: Bool,
        work: (CommandOutput) async -> Int32
    ) async -> Int32 {
        if verbose {
            console.line(ShellText.echoEscapes(command))
        } else {
            console.text(ShellText.echoEscapes(description + "..."))
        }
        var dots: Task<Void, Never>?
        if background && !verbose && progressDots {
            let console = self.console
            dots = Task {
                while true {
                    do { try await Task.sleep(nanoseconds: 3_000_000_000) } catch { return }
                    console.text(".")
                }
            }
        }
        let status: Int32
        if let log {
            fileSystem.writeText(
                "\n" + ShellText.echoEscapes(description) + "\n# command: " + ShellText.echoEscapes(command) + "\n",
                to: log, append: true)
            let start = Self.monotonicSeconds()
            status = await work(CommandOutput(output: .appendToFile(log), error: .mergeWithOutput))
            let elapsed = Self.monotonicSeconds() - start
            fileSystem.writeText(
                "\n# exit code: \(status)\n# elapsed time: \(Self.clockText(elapsed))\n"
                    + String(repeating: "-", count: 64) + "\n",
                to: log, append: true)
        } else if background && !verbose {
            status = await work(CommandOutput(output: .discard, error: .discard))
        } else if collectsTerminalOutput, let file = fileSystem.makeTemporaryFile(template: "/tmp/.dkms-output.XXXXXX") {
            status = await work(CommandOutput(output: .appendToFile(file), error: .mergeWithOutput))
            if let bytes = fileSystem.readBytes(file), !bytes.isEmpty {
                console.write(String(decoding: bytes, as: UTF8.self), to: .standardOutput)
            }
            fileSystem.removeFile(file)
        } else {
            status = await work(CommandOutput(output: .inherit, error: .inherit))
        }
        dots?.cancel()
        _ = await dots?.value
        if status > 0 {
            console.text("(bad exit status: \(status))")
            if !verbose { console.line("\nFailed command:\n" + ShellText.echoEscapes(command)) }
        } else {
            console.line(" done.")
        }
        return status
    }

    /// Upstream skips progress dots for its own test modules (`dkms*_test`).
    static func isTestPackage(_ name: String) -> Bool {
        name.hasPrefix("dkms") && name.hasSuffix("_test") && name.count >= 9
    }

    /// Whole seconds of a monotonic clock (bash's `$SECONDS`).
    static func monotonicSeconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int(now.tv_sec)
    }

    /// `HH:MM:SS` of a duration, wrapping at a day like `date +%T`.
    static func clockText(_ seconds: Int) -> String {
        let s = ((seconds % 86400) + 86400) % 86400
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(two(s / 3600)):\(two(s / 60 % 60)):\(two(s % 60))"
    }
}
