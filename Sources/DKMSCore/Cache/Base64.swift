/// Standard base64 (RFC 4648, with `=` padding), for PEM key files and
/// manifest signatures; nothing in DKMSCore's dependencies exports one.
package enum Base64 {
    /// The 64 digits in value order.
    private static let digits = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// The base64 text of bytes, padded, on one line.
    package static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let count = min(3, bytes.count - index)
            var group = 0
            for offset in 0..<3 { group = group << 8 | Int(offset < count ? bytes[index + offset] : 0) }
            for position in 0..<4 {
                out.append(position <= count ? digits[(group >> (18 - 6 * position)) & 63] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of base64 text, ignoring line breaks and spaces; nil when
    /// anything else is not a base64 digit or the padding is wrong.
    package static func decode(_ text: String) -> [UInt8]? {
        var values: [Int] = []
        var padding = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                continue
            case UInt8(ascii: "="):
                padding += 1
            default:
                guard padding == 0, let value = digits.firstIndex(of: byte) else { return nil }
                values.append(value)
            }
        }
        guard (values.count + padding) % 4 == 0, padding <= 2, values.count % 4 != 1 else { return nil }
        guard padding == 0 || padding == (4 - values.count % 4) % 4 else { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            var group = 0
            for position in 0..<4 { group = group << 6 | (position < chunk.count ? chunk[chunk.startIndex + position] : 0) }
            for position in 0..<(chunk.count - 1) { out.append(UInt8((group >> (16 - 8 * position)) & 255)) }
            index += 4
        }
        return out
    }
}
