#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DKMSCore

/// The console of the `dkms` command: unbuffered writes to file
/// descriptors 1 and 2, and upstream's rendering of diagnostics.
package struct TerminalConsole: Console {
    /// Creates the console.
    package init() {}

    package func write(_ text: String, to stream: OutputStream) {
        let fd: Int32 = stream == .standardOutput ? STDOUT_FILENO : STDERR_FILENO
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { buffer in
                Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }

    package func report(_ diagnostic: Diagnostic) {
        write(Self.render(diagnostic), to: .standardError)
    }

    /// The exact text upstream prints for a diagnostic.
    package static func render(_ diagnostic: Diagnostic) -> String {
        let prefix: String
        switch diagnostic.kind {
        case .error: prefix = "\nError! "
        case .warning: prefix = "Warning: "
        case .deprecated: prefix = "Deprecated feature: "
        }
        return prefix + diagnostic.lines.map { $0 + "\n" }.joined()
    }
}
