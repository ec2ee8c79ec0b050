import DKMSCore
import Synchronization

/// A console that records what DKMSCore writes, for in-process tests.
package final class RecordingConsole: Console {
    private let storage = Mutex<[(OutputStream, String)]>([])

    /// Creates an empty recorder.
    package init() {}

    package func write(_ text: String, to stream: OutputStream) {
        storage.withLock { $0.append((stream, text)) }
    }

    package func report(_ diagnostic: Diagnostic) {
        let prefix: String
        switch diagnostic.kind {
        case .error: prefix = "\nError! "
        case .warning: prefix = "Warning: "
        case .deprecated: prefix = "Deprecated feature: "
        }
        write(prefix + diagnostic.lines.map { $0 + "\n" }.joined(), to: .standardError)
    }

    /// Everything written to standard output.
    package var standardOutput: String {
        storage.withLock { $0.filter { $0.0 == .standardOutput }.map(\.1).joined() }
    }

    /// Everything written to standard error.
    package var standardError: String {
        storage.withLock { $0.filter { $0.0 == .standardError }.map(\.1).joined() }
    }
}
