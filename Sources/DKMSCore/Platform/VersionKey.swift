/// Upstream's `VER()`: a string that compares like the version it was
/// made from. Every run of digits is padded to at least three digits, so
/// a plain byte-wise comparison orders `6.9` before `6.10`.
package struct VersionKey: Comparable, Sendable, CustomStringConvertible {
    /// The padded text.
    package let text: String

    /// Builds the key of a version string.
    package init(_ version: String) {
        var output = ""
        var digits = ""
        func flush() {
            if !digits.isEmpty {
                output += String(repeating: "0", count: max(0, 3 - digits.count)) + digits
                digits = ""
            }
        }
        for character in version {
            if character.isASCII && character.isNumber {
                digits.append(character)
            } else {
                flush()
                if character != " " { output.append(character) }
            }
        }
        flush()
        text = output
    }

    package static func < (lhs: VersionKey, rhs: VersionKey) -> Bool {
        lhs.text.utf8.lexicographicallyPrecedes(rhs.text.utf8)
    }

    package var description: String { text }
}
