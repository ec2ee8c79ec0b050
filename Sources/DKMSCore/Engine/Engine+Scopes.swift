/// Nested scopes, as upstream nests them. Each runs on an engine of its
/// own (``Engine/init(nestedIn:scope:console:)``) that starts from a copy
/// of this engine's ``ShellScope`` and has its own console; what the
/// caller keeps afterwards is said by which of these runs it.
extension Engine {
    /// Runs `body` as upstream runs code in `( … )`: on a copy of this
    /// scope, so nothing it changes there reaches this one, with its output
    /// going to `console` (this scope's by default).
    func inSubshell<T, E: Error>(console: (any Console)? = nil,
                                 _ body: (Engine) async throws(E) -> T) async throws(E) -> T {
        try await body(Engine(nestedIn: self, scope: scope, console: console ?? self.console))
    }

    /// ``inSubshell(console:_:)`` for a step whose failure does not end
    /// dkms: a thrown ``DKMSError`` is rendered on the subshell's console
    /// and becomes the returned status.
    func subshell(console: (any Console)? = nil, _ body: (Engine) async throws(DKMSError) -> Int32) async -> Int32 {
        let shell = Engine(nestedIn: self, scope: scope, console: console ?? self.console)
        do {
            return try await body(shell)
        } catch {
            if let diagnostic = error.diagnostic { shell.console.report(diagnostic) }
            return error.status
        }
    }

    /// Runs a step with its output going to `console` instead, as
    /// upstream's `step >file` or `step 2>/dev/null`: the step runs in this
    /// shell, so what it changes in the scope is this scope's afterwards,
    /// whether it returns or throws.
    func redirected<T, E: Error>(to console: any Console,
                                 _ body: (Engine) async throws(E) -> T) async throws(E) -> T {
        let step = Engine(nestedIn: self, scope: scope, console: console)
        defer { scope = step.scope }
        return try await body(step)
    }
}
