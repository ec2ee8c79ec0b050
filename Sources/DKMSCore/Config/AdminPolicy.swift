/// What the admin lets one module do (from /etc/dkms/MODULE.conf).
struct AdminModuleChoices: Sendable, Equatable {
    /// Its builds run in the sandbox.
    var sandbox = true
    /// Its builds use the module cache.
    var cache = true
}

/// The admin's per-module choices: `BUILD_SANDBOX=no` and `BUILD_CACHE=no`
/// in `/etc/dkms/MODULE.conf` turn the sandbox and the module cache off for
/// that module. Only that file counts, never the module's own dkms.conf
/// (a package cannot opt itself out). Each module's file is read once per
/// command (through bash, as dkms.conf is).
final class AdminPolicy {
    private let etcDirectory: String
    private let etcEntries: Set<String>
    private let fileSystem: any FileSystemAccess
    private let runner: any ProcessRunning
    private var known: [String: AdminModuleChoices] = [:]

    /// The policy of an `/etc/dkms` whose entries were listed as `etcEntries`.
    init(etcDirectory: String, etcEntries: Set<String>, fileSystem: any FileSystemAccess, runner: any ProcessRunning) {
        self.etcDirectory = etcDirectory
        self.etcEntries = etcEntries
        self.fileSystem = fileSystem
        self.runner = runner
    }

    /// What the admin lets `module` do.
    /// - Parameter environment: the environment the file is evaluated in.
    func choices(module: String, environment: [String: String]) async -> AdminModuleChoices {
        if let choices = known[module] { return choices }
        var choices = AdminModuleChoices()
        let file = "\(etcDirectory)/\(module).conf"
        if etcEntries.contains("\(module).conf"), fileSystem.isRegularFile(file) {
            let values = await ShellSourcer(runner: runner, fileSystem: fileSystem).evaluate(.init(
                globals: [], environment: environment, files: [file], names: ["BUILD_SANDBOX", "BUILD_CACHE"], unsetFirst: true))
            choices.sandbox = !Settings.turnsOff(values["BUILD_SANDBOX"].value)
            choices.cache = !Settings.turnsOff(values["BUILD_CACHE"].value)
        }
        known[module] = choices
        return choices
    }
}
