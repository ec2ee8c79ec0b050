/// A failure that ends the current dkms operation with an exit status.
///
/// It mirrors upstream dkms' `die` (an `Error!` block on stderr),
/// `diewarn` (a `Warning:` block) and a plain `exit N` (no message), so
/// the CLI layer can render it exactly as upstream does and exit with
/// `status`.
package struct DKMSError: Error, Sendable, Equatable {
    /// How the failure is presented before the exit.
    package enum Presentation: Sendable, Equatable {
        /// `\nError! line1\nline2…` on standard error.
        case error
        /// `Warning: line1\nline2…` on standard error.
        case warning
        /// Nothing is printed (the message, if any, was already shown).
        case silent
    }

    /// What failed, named (its number is the process exit status).
    package var code: Code
    /// The process exit status (upstream's documented code).
    package var status: Int32 { code.status }
    /// The message lines; the first is prefixed by the presentation.
    package var lines: [String]
    /// How the lines are shown.
    package var presentation: Presentation

    /// Creates an error with an explicit presentation.
    package init(code: Code, lines: [String], presentation: Presentation) {
        self.code = code
        self.lines = lines
        self.presentation = presentation
    }

    /// A silent exit with a status (upstream's bare `exit N`: a script's
    /// own status passed on, or one of the codes).
    package static func exit(_ status: Int32) -> DKMSError {
        DKMSError(code: Code(status), lines: [], presentation: .silent)
    }

    /// The diagnostic to render, if any.
    package var diagnostic: Diagnostic? {
        switch presentation {
        case .error: return Diagnostic(kind: .error, lines: lines)
        case .warning: return Diagnostic(kind: .warning, lines: lines)
        case .silent: return nil
        }
    }
}
