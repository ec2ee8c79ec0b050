/// What was written to a console, in order, as a value: text on either
/// stream and diagnostic blocks. It is shown later by replaying it, so a
/// decision taken early (a plan) can still print its messages at the
/// moment upstream prints them.
package struct ConsoleTranscript: Sendable, Equatable {
    /// One thing written.
    package enum Item: Sendable, Equatable {
        /// Text on a stream, as given.
        case text(OutputStream, String)
        /// A diagnostic block.
        case diagnostic(Diagnostic)
    }

    /// What was written, in order.
    package var items: [Item] = []

    /// An empty transcript.
    package init(items: [Item] = []) {
        self.items = items
    }

    /// Whether nothing was written.
    package var isEmpty: Bool { items.isEmpty }

    /// Writes everything to `console`, in order.
    package func replay(to console: any Console) {
        for item in items {
            switch item {
            case .text(let stream, let text): console.write(text, to: stream)
            case .diagnostic(let diagnostic): console.report(diagnostic)
            }
        }
    }
}
