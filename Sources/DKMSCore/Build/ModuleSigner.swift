/// Signs built modules with the machine's key, outside any sandbox, as
/// upstream's `do_build` signs them (a failure is only a warning).
struct ModuleSigner: Sendable, Hashable {
    /// `sign_file`.
    var signFile: String
    /// `sign_hash` (from `CONFIG_MODULE_SIG_HASH`).
    var hash: String
    /// `mok_signing_key`.
    var key: String
    /// `mok_certificate`.
    var certificate: String

    /// Signs `path`, naming it `shownAs` in messages.
    func sign(_ path: String, shownAs: String, console: any Console, runner: any ProcessRunning,
              environment: [String: String]) async {
        console.line("Signing module \(shownAs)")
        let outcome = await runner.run(ProcessSpec(signFile, [hash, key, certificate, path], environment: environment,
                                                   output: .capture, error: .mergeWithOutput))
        if outcome.status != 0 {
            var text = outcome.outputText
            while text.hasSuffix("\n") { text.removeLast() }
            console.warning("Failed to sign module '\(shownAs)'!", text)
        }
    }
}
