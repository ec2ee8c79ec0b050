/// A console that shows nothing.
package struct SilentConsole: Console {
    /// Creates the console.
    package init() {}
    package func write(_ text: String, to stream: OutputStream) {}
    package func report(_ diagnostic: Diagnostic) {}
}

/// A console that keeps what it is given, to show it later.
package final class BufferedConsole: Console, @unchecked Sendable {
    private let lock = Mutex()
    private var kept = ConsoleTranscript()

    /// Creates an empty buffer (the console it is flushed to renders its
    /// diagnostics).
    package init() {}

    package func write(_ text: String, to stream: OutputStream) {
        lock.withLock { kept.items.append(.text(stream, text)) }
    }

    package func report(_ diagnostic: Diagnostic) {
        lock.withLock { kept.items.append(.diagnostic(diagnostic)) }
    }

    /// Everything kept so far.
    package var transcript: ConsoleTranscript { lock.withLock { kept } }

    /// Writes everything kept to `console`, in order.
    package func flush(to console: any Console) {
        transcript.replay(to: console)
    }
}
