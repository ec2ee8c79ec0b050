/// How dkms runs a command string from dkms.conf or framework.conf: with
/// bash, as upstream's `eval`, with dkms' variables defined. A command of
/// plain words only (no quote, expansion or operator) means the same
/// without a shell and is run directly, with `PWD` set as bash would set it.
enum ShellCommand {
    /// The process that runs `command`.
    /// - Parameters:
    ///   - variables: the shell variables the command sees.
    ///   - environment: the child's environment.
    ///   - programName: bash's `$0`.
    static func spec(
        _ command: String, variables: [ShellVariable], environment: [String: String], programName: String,
        workingDirectory: String? = nil, output: ProcessOutputTarget = .inherit, error: ProcessErrorTarget = .inherit
    ) -> ProcessSpec {
        if let words = plainWords(command), let program = words.first, !shellKeywords.contains(program),
           isCommand(program, path: environment["PATH"]) {
            var environment = environment
            if let workingDirectory { environment["PWD"] = workingDirectory }
            return ProcessSpec(program, Array(words.dropFirst()), environment: environment,
                               workingDirectory: workingDirectory, output: output, error: error)
        }
        let script = ShellSourcer.definitions(variables.map { ($0.name, ShellArray(scalar: $0.value)) })
            + "eval " + ShellText.quote(command) + "\n"
        return ProcessSpec(Shell.bash, ["-c", script, programName], environment: environment,
                           workingDirectory: workingDirectory, output: output, error: error)
    }

    /// Words a shell would not change: letters, digits and `_-=/.,:+@%`
    /// separated by spaces, the first not an assignment. Nil otherwise.
    static func plainWords(_ command: String) -> [String]? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-=/.,:+@% ")
        guard !command.isEmpty, command.allSatisfy({ allowed.contains($0) }) else { return nil }
        let words = command.split(separator: " ").map(String.init)
        guard let first = words.first, !first.contains("=") else { return nil }
        return words
    }

    /// Words that are shell syntax or builtins rather than programs.
    static let shellKeywords: Set<String> = ["cd", "exec", "eval", "export", "set", "unset", "source", ".", "exit", "true", "false",
                                             "if", "then", "else", "fi", "for", "while", "do", "done", "case", "esac", "echo", "test", "read"]

    /// Whether a program can be found (`command -v`).
    static func isCommand(_ name: String, path: String?, fileSystem: any FileSystemAccess = LocalFileSystem()) -> Bool {
        if name.isEmpty { return false }
        // A directory is "executable" (searchable) but bash cannot run it.
        if name.contains("/") { return fileSystem.isExecutable(name) && fileSystem.isRegularFile(name) }
        return SubprocessRunner.lookUp(name, in: path) != nil
    }
}
