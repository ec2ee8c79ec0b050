/// Reads the distribution identity from os-release the way dkms does:
/// `ID` when it is ubuntu, otherwise `ID_LIKE` when set, otherwise `ID`.
package enum OSRelease {
    /// The files looked at, in order.
    package static let candidates = ["/etc/os-release", "/usr/lib/os-release"]

    /// The distribution string, or nil when no os-release file exists.
    package static func distribution(files: [String] = candidates) -> String? {
        for file in files where FileSystem.exists(file) {
            let values = parse(FileSystem.readText(file) ?? "")
            let id = values["ID"] ?? ""
            if id == "ubuntu" { return id }
            if let like = values["ID_LIKE"] { return like }
            return id
        }
        return nil
    }

    /// Parses `KEY=value` lines with shell quoting (double, single or none).
    package static func parse(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for rawLine in text.split(separator: "\n") {
            let line = rawLine.trimmingBlanksSubstring()
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals])
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { continue }
            values[key] = unquote(line[line.index(after: equals)...])
        }
        return values
    }

    private static func unquote(_ raw: Substring) -> String {
        var result = ""
        var iterator = raw.makeIterator()
        var quote: Character? = nil
        while let c = iterator.next() {
            switch (quote, c) {
            case (nil, "\""), (nil, "'"): quote = c
            case ("\"", "\""), ("'", "'"): quote = nil
            case ("\"", "\\"), (nil, "\\"):
                if let next = iterator.next() { result.append(next) }
            case (nil, " "), (nil, "\t"): return result
            default: result.append(c)
            }
        }
        return result
    }
}

extension Substring {
    func trimmingBlanksSubstring() -> Substring {
        var slice = self
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" || last == "\r" { slice = slice.dropLast() }
        return slice
    }
}
