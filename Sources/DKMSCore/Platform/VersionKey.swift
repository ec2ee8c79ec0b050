/// Upstream's `VER()`: a string that compares like the version it was
/// made from. Every run of digits is padded to at least three digits, so
/// a plain byte-wise comparison orders `6.9` before `6.10`.
public struct VersionKey: Comparable, Sendable, CustomStringConvertible {
    /// The padded text.
    public let text: String

    /// Builds the key of a version string.
    public init(_ version: String) {
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

    public static func < (lhs: VersionKey, rhs: VersionKey) -> Bool {
        lhs.text.utf8.lexicographicallyPrecedes(rhs.text.utf8)
    }

    public var description: String { text }
}
