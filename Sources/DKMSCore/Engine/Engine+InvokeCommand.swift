#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Engine {
    /// How this invocation shows logged commands on its console.
    var presenter: CommandPresenter {
        CommandPresenter(console: console, verbose: settings.verbose,
                         progressDots: !CommandPresenter.isTestPackage(state.packageName))
    }

    /// Upstream's `invoke_command` (see ``CommandPresenter/invoke(_:description:log:background:work:)``).
    func invokeCommand(
        _ command: String, description: String, log: String?, background: Bool,
        work: (CommandOutput) async -> Int32
    ) async -> Int32 {
        await presenter.invoke(command, description: description, log: log, background: background, work: work)
    }

    /// The output of `date` in the C locale (`Wed Nov 25 03:17:04 UTC 2026`).
    static func dateText(_ seconds: Int? = nil) -> String {
        var now = seconds.map { time_t($0) } ?? time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 128)
        let count = strftime(&buffer, buffer.count, "%a %b %e %H:%M:%S %Z %Y", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
