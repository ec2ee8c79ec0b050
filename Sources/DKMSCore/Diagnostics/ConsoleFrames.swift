/// The framing a build job (a child dkms) uses for its console output, so
/// the parent can replay it later to the right streams, in order.
///
/// A frame is `0x1E`, `DK`, `O` or `E` (standard output or error), the
/// length in decimal, `:`, and the bytes. Bytes outside frames come from
/// programs the job ran and are replayed to standard error.
public enum ConsoleFrames {
    /// Encodes one write.
    public static func encode(_ text: String, stream: OutputStream) -> [UInt8] {
        let body = Array(text.utf8)
        return [0x1E, UInt8(ascii: "D"), UInt8(ascii: "K"), stream == .standardOutput ? UInt8(ascii: "O") : UInt8(ascii: "E")]
            + Array(String(body.count).utf8) + [UInt8(ascii: ":")] + body
    }

    /// Decodes a captured stream into writes, in order.
    public static func decode(_ bytes: [UInt8]) -> [(OutputStream, String)] {
        var writes: [(OutputStream, String)] = []
        var raw: [UInt8] = []
        var i = 0
        func flushRaw() {
            if !raw.isEmpty { writes.append((.standardError, String(decoding: raw, as: UTF8.self))) }
            raw = []
        }
        while i < bytes.count {
            if bytes[i] == 0x1E, i + 4 < bytes.count, bytes[i + 1] == UInt8(ascii: "D"), bytes[i + 2] == UInt8(ascii: "K"),
               bytes[i + 3] == UInt8(ascii: "O") || bytes[i + 3] == UInt8(ascii: "E") {
                var j = i + 4
                var length = 0
                while j < bytes.count, bytes[j] >= 0x30, bytes[j] <= 0x39 {
                    length = length * 10 + Int(bytes[j] - 0x30)
                    j += 1
                }
                if j < bytes.count, bytes[j] == UInt8(ascii: ":"), j + 1 + length <= bytes.count {
                    flushRaw()
                    let stream: OutputStream = bytes[i + 3] == UInt8(ascii: "O") ? .standardOutput : .standardError
                    writes.append((stream, String(decoding: bytes[(j + 1)..<(j + 1 + length)], as: UTF8.self)))
                    i = j + 1 + length
                    continue
                }
            }
            raw.append(bytes[i])
            i += 1
        }
        flushRaw()
        return writes
    }

    /// Replays a captured stream on a console.
    public static func replay(_ bytes: [UInt8], on console: any Console) {
        for (stream, text) in decode(bytes) { console.write(text, to: stream) }
    }
}

/// A console that shows nothing.
public struct SilentConsole: Console {
    /// Creates the console.
    public init() {}
    public func write(_ text: String, to stream: OutputStream) {}
    public func report(_ diagnostic: Diagnostic) {}
}

/// A console that keeps what it is given, to show it later.
public final class BufferedConsole: Console, @unchecked Sendable {
    private let lock = Mutex()
    private var writes: [(OutputStream, String)] = []
    private var reports: [(Int, Diagnostic)] = []
    private let renderer: any Console

    /// Creates a buffer whose diagnostics will be rendered by `renderer`.
    public init(renderingWith renderer: any Console) {
        self.renderer = renderer
    }

    public func write(_ text: String, to stream: OutputStream) {
        lock.withLock { writes.append((stream, text)) }
    }

    public func report(_ diagnostic: Diagnostic) {
        lock.withLock { reports.append((writes.count, diagnostic)) ; writes.append((.standardError, "")) }
    }

    /// Writes everything kept to `console`, in order.
    public func flush(to console: any Console) {
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
