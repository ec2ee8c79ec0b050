/// Where a dkms.conf script runs from, resolved as upstream's
/// `run_build_script` resolves it.
struct ScriptResolution: Sendable, Equatable {
    /// The directory the script runs from (`cd DIR/ && …`).
    var directory: String
    /// The command: the script's path and its arguments.
    var command: String
    /// The script's path alone.
    var program: String

    /// Resolves `script` (a path relative to `directory` and its
    /// arguments): an executable of the same name in `overrideDirectory`
    /// wins. Nil when the resolved program is not executable.
    /// - Parameter isExecutable: answers for a path as the command will see
    ///   it (a build's directory may be backed by another one), in the
    ///   override directory too.
    static func resolve(
        _ script: String, in directory: String, overrideDirectory: String,
        isExecutable: (String) -> Bool = LocalFileSystem().isExecutable
    ) -> ScriptResolution? {
        let name = firstWord(script)
        var runDirectory = directory
        var command = "\(directory)/\(script)"
        if isExecutable("\(overrideDirectory)/\(name)") {
            runDirectory = overrideDirectory
            command = "\(overrideDirectory)/\(script)"
        }
        let program = firstWord(command)
        guard isExecutable(program) else { return nil }
        return ScriptResolution(directory: runDirectory, command: command, program: program)
    }

    /// The shell command upstream logs and runs for a logged script.
    var loggedCommand: String { "cd \(directory)/ && \(command)" }

    private static func firstWord(_ text: String) -> String {
        text.split(separator: " ", maxSplits: 1).first.map(String.init) ?? text
    }
}
