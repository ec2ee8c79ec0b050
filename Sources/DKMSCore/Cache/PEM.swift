/// PEM armour (RFC 7468): DER bytes in base64 between
/// `-----BEGIN LABEL-----` and `-----END LABEL-----` lines, as openssl
/// reads and writes key files.
package enum PEM {
    /// The PEM text of DER bytes, in lines of 64 base64 digits.
    package static func armor(_ der: [UInt8], label: String) -> String {
        let body = Array(Base64.encode(der))
        var lines = ["-----BEGIN \(label)-----"]
        var start = 0
        while start < body.count {
            lines.append(String(body[start..<min(start + 64, body.count)]))
            start += 64
        }
        lines.append("-----END \(label)-----")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The DER bytes of the first block labelled `label` in a text (other
    /// blocks and text around it are ignored); nil when there is none or
    /// its base64 does not decode.
    package static func der(_ text: String, label: String) -> [UInt8]? {
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map { String($0).trimmingBlanks() }
        guard let begin = lines.firstIndex(of: "-----BEGIN \(label)-----"),
              let end = lines[begin...].firstIndex(of: "-----END \(label)-----")
        else { return nil }
        return Base64.decode(lines[(begin + 1)..<end].joined())
    }
}

