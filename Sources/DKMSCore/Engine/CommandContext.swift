/// What one command works with, shared by every scope of it: the
/// invocation, the process runner, the file system and the per-command
/// memos (``CommandState``: the transaction, kernel facts, admin policy,
/// conf evaluations…). Only ``settings`` is ever written, and only while
/// ``CommandRunner`` resolves the command line (its kernels and arches),
/// before an action runs.
final class CommandContext {
    /// The invocation: framework.conf, the host's facts and the command line.
    var settings: Settings
    /// Runs every process of the command.
    let runner: any ProcessRunning
    /// The file system the trees are read and changed through.
    let fileSystem: any FileSystemAccess
    /// The command's memos and transaction, each with its own owner.
    let state: CommandState

    /// The context of a command with these settings.
    init(settings: Settings, runner: any ProcessRunning, fileSystem: any FileSystemAccess) {
        self.settings = settings
        self.runner = runner
        self.fileSystem = fileSystem
        state = CommandState(settings: settings, fileSystem: fileSystem, runner: runner)
    }
}
