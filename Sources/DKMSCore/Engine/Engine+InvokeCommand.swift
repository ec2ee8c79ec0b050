extension Engine {
    /// How this invocation shows logged commands on its console.
    var presenter: CommandPresenter {
        CommandPresenter(console: console, verbose: settings.verbose,
                         progressDots: !CommandPresenter.isTestPackage(scope.packageName), fileSystem: fileSystem)
    }

    /// Upstream's `invoke_command` (see ``CommandPresenter/invoke(_:description:log:background:work:)``).
    func invokeCommand(
        _ command: String, description: String, log: String?, background: Bool,
        work: (CommandOutput) async -> Int32
    ) async -> Int32 {
        await presenter.invoke(command, description: description, log: log, background: background, work: work)
    }
}
