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
    private var writes: [(OutputStream, String)] = []
    private var reports: [(Int, Diagnostic)] = []
    private let renderer: any Console

    /// Creates a buffer whose diagnostics will be rendered by `renderer`.
    package init(renderingWith renderer: any Console) {
        self.renderer = renderer
    }

    package func write(_ text: String, to stream: OutputStream) {
        lock.withLock { writes.append((stream, text)) }
    }

    package func report(_ diagnostic: Diagnostic) {
        lock.withLock { reports.append((writes.count, diagnostic)) ; writes.append((.standardError, "")) }
    }

    /// Writes everything kept to `console`, in order.
    package func flush(to console: any Console) {
        let (writes, reports) = lock.withLock { (self.writes, self.reports) }
        var pending = reports[...]
        for (index, (stream, text)) in writes.enumerated() {
            if let first = pending.first, first.0 == index {
                console.report(first.1)
                pending = pending.dropFirst()
                continue
            }
            console.write(text, to: stream)
        }
    }
}
