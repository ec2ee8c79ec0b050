import DKMSCore

/// The `dkms` command: start-up, argument parsing, the action, and the
/// mapping of failures to upstream's messages and exit statuses.
package enum DKMSCommand {
    /// Runs dkms with `arguments` (without the program name).
    /// - Returns: the exit status.
    package static func main(
        programPath: String, arguments: [String], environment: [String: String],
        console: any Console = TerminalConsole(), runner: any ProcessRunning = SubprocessRunner()
    ) async -> Int32 {
        var settings: Settings
        do {
            settings = try await Bootstrap.prepare(environment: environment, console: console, runner: runner)
        } catch {
            if let diagnostic = error.diagnostic { console.report(diagnostic) }
            return error.status
        }
        settings.programName = displayName(programPath, path: environment["PATH"] ?? "")
        let parser = CommandLineParser(console: console)
        if case .exit(let status) = parser.parse(arguments, into: &settings) { return status }
        let engine = Engine(settings: settings, console: console, runner: runner)
        do {
            switch try await engine.run() {
            case .exit(let status):
                return status
            case .statusEntries(let entries, let failures, let cache):
                console.text(StatusJSON.render(entries, failures: failures, cache: cache))
                return 0
            case .unknownAction:
                console.error("Unknown action specified: \"\"")
                Usage.show(program: settings.programName, on: console)
                return 0
            }
        } catch {
            if let diagnostic = error.diagnostic { console.report(diagnostic) }
            return error.status
        }
    }

    /// The name a shell script would see as `$0`: the path it was run by,
    /// found on `PATH` when it was run by name.
    static func displayName(_ argument: String, path: String) -> String {
        if argument.contains("/") { return argument }
        for directory in path.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + argument
            if FileSystem.isExecutable(candidate) && FileSystem.isRegularFile(candidate) { return candidate }
        }
        return argument
    }
}
