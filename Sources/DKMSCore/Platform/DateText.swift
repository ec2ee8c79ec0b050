#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Times as dkms writes them into logs and listings.
package enum DateText {
    /// The output of `date` in the C locale (`Wed Nov 25 03:17:04 UTC 2026`)
    /// for `seconds` since the epoch, or now.
    package static func date(_ seconds: Int? = nil) -> String {
        var now = seconds.map { time_t($0) } ?? time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 128)
        let count = strftime(&buffer, buffer.count, "%a %b %e %H:%M:%S %Z %Y", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
