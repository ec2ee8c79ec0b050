/// The two output streams dkms writes to.
package enum OutputStream: Sendable, Equatable {
    case standardOutput
    case standardError
}

/// A message block in one of upstream's three styles.
package struct Diagnostic: Sendable, Equatable {
    /// The style of the block.
    package enum Kind: Sendable, Equatable {
        /// `\nError! first\nrest…` (upstream `error`).
        case error
        /// `Warning: first\nrest…` (upstream `warn`).
        case warning
        /// `Deprecated feature: first\nrest…` (upstream `deprecated`).
        case deprecated
    }

    /// The style.
    package var kind: Kind
    /// The lines; the first gets the style's prefix.
    package var lines: [String]

    /// Creates a diagnostic.
    package init(kind: Kind, lines: [String]) {
        self.kind = kind
        self.lines = lines
    }
}

/// Where DKMSCore sends everything the user sees.
///
/// The library never writes to the terminal itself: the CLI provides a
/// console that renders text and diagnostics, tests provide one that
/// records them. Child processes whose output upstream shows directly
/// (scripts, verbose commands) inherit the process' standard streams, so
/// a console must write unbuffered to keep the order.
package protocol Console: Sendable {
    /// Writes `text` as is (no newline is added).
    func write(_ text: String, to stream: OutputStream)
    /// Renders a diagnostic block.
    func report(_ diagnostic: Diagnostic)
}

extension Console {
    /// Writes one line to standard output.
    package func line(_ text: String = "") {
        write(text + "\n", to: .standardOutput)
    }

    /// Writes one line to standard error.
    package func errorLine(_ text: String = "") {
        write(text + "\n", to: .standardError)
    }

    /// Writes text without a newline to standard output.
    package func text(_ text: String) {
        write(text, to: .standardOutput)
    }

    /// Reports an `Error!` block.
    package func error(_ lines: String...) {
        report(Diagnostic(kind: .error, lines: lines))
    }

    /// Reports a `Warning:` block.
    package func warning(_ lines: String...) {
        report(Diagnostic(kind: .warning, lines: lines))
    }

    /// Reports a `Deprecated feature:` block.
    package func deprecated(_ lines: String...) {
        report(Diagnostic(kind: .deprecated, lines: lines))
    }
}
