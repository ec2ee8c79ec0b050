#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Text transformations that reproduce what bash does to strings dkms
/// prints or evaluates.
package enum ShellText {
    /// Quotes a value so bash reads it back literally (`'…'`).
    package static func quote(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Interprets backslash escapes the way `echo -e` does. Output after
    /// `\c` is dropped.
    package static func echoEscapes(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var result: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        func isOctal(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x37 }
        func hexValue(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: return b - 0x30
            case 0x61...0x66: return b - 0x61 + 10
            case 0x41...0x46: return b - 0x41 + 10
            default: return nil
            }
        }
        while i < bytes.count {
            let b = bytes[i]
            guard b == 0x5C, i + 1 < bytes.count else {
                result.append(b)
                i += 1
                continue
            }
            let next = bytes[i + 1]
            i += 2
            switch next {
            case UInt8(ascii: "a"): result.append(0x07)
            case UInt8(ascii: "b"): result.append(0x08)
            case UInt8(ascii: "c"): return String(decoding: result, as: UTF8.self)
            case UInt8(ascii: "e"), UInt8(ascii: "E"): result.append(0x1B)
            case UInt8(ascii: "f"): result.append(0x0C)
            case UInt8(ascii: "n"): result.append(0x0A)
            case UInt8(ascii: "r"): result.append(0x0D)
            case UInt8(ascii: "t"): result.append(0x09)
            case UInt8(ascii: "v"): result.append(0x0B)
            case 0x5C: result.append(0x5C)
            case UInt8(ascii: "0"):
                var value: UInt32 = 0
                var digits = 0
                while digits < 3, i < bytes.count, isOctal(bytes[i]) {
                    value = value * 8 + UInt32(bytes[i] - 0x30)
                    i += 1
                    digits += 1
                }
                result.append(UInt8(truncatingIfNeeded: value))
            case UInt8(ascii: "x"):
                var value: UInt8 = 0
                var digits = 0
                while digits < 2, i < bytes.count, let h = hexValue(bytes[i]) {
                    value = value * 16 + h
                    i += 1
                    digits += 1
                }
                if digits == 0 {
                    result.append(contentsOf: [0x5C, next])
                } else {
                    result.append(value)
                }
            default:
                result.append(contentsOf: [0x5C, next])
            }
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// The byte offset of `needle` in `haystack`, or nil.
    static func firstOffset(of needle: UnsafeBufferPointer<UInt8>, in haystack: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let first = needle.first, needle.count <= haystack.count else { return needle.isEmpty ? 0 : nil }
        var i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first {
                var j = 1
                while j < needle.count && haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    /// Splits on blanks (spaces, tabs, newlines) the way an unquoted
    /// expansion is split with the default IFS.
    package static func words(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
    }

    /// Removes leading and trailing IFS whitespace, as `read -r` does, and
    /// keeps only the first line.
    package static func readLine(_ text: String) -> String {
        let firstLine = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return firstLine.trimmingBlanks()
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    func trimmingBlanks() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }

    /// Replaces every occurrence of `target` (a simple literal search).
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty, self.contains(target) else { return self }
        var result = ""
        var remainder = Substring(self)
        while let range = remainder.range(of: target) {
            result += remainder[..<range.lowerBound]
            result += replacement
            remainder = remainder[range.upperBound...]
        }
        return result + remainder
    }
}

extension Substring {
    /// The first range of `target`, by literal search of the UTF-8 bytes.
    func range(of target: String) -> Range<Substring.Index>? {
        let needle = Array(target.utf8)
        guard !needle.isEmpty else { return nil }
        let bytes = Array(self.utf8)
        let offset = bytes.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { n in ShellText.firstOffset(of: n, in: h) }
        }
        guard let offset else { return nil }
        let start = utf8.index(utf8.startIndex, offsetBy: offset)
        let end = utf8.index(start, offsetBy: needle.count)
        return start..<end
    }
}

extension String {
    /// Whether the string contains `other` literally (a byte search).
    func contains(_ other: String) -> Bool {
        guard !other.isEmpty else { return true }
        var haystack = self
        var needle = other
        return haystack.withUTF8 { h in
            needle.withUTF8 { n in ShellText.firstOffset(of: n, in: h) != nil }
        }
    }
}
