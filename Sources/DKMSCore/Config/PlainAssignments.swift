/// Reads configuration files that are nothing but plain assignments
/// without running bash, when that gives exactly what bash would.
///
/// A file qualifies when every line is blank, a comment, or
/// `NAME=value` / `NAME[N]=value` whose value is a bare word or a quoted
/// string with no expansion, escape, command substitution or glob in it,
/// and whose index is a decimal number without a leading zero (bash reads
/// `[010]` as octal and fails on `[08]`). Any other line (a `$`, a
/// backquote, an `if`, an array literal, a blank before a carriage
/// return…) makes the caller fall back to bash. ``readBack(_:)`` then
/// gives what dkms' read-back turns a value into.
package enum PlainAssignments {
    /// One assignment.
    package struct Assignment: Sendable, Equatable {
        /// The variable.
        package var name: String
        /// The index (0 for `NAME=`).
        package var index: Int
        /// The value as bash would assign it.
        package var value: String
    }

    /// The assignments of a file in order, or nil when the file needs bash.
    package static func parse(_ text: String) -> [Assignment]? {
        var result: [Assignment] = []
        // Split on line feeds as bash does: "\r\n" is one Character in
        // Swift, so the split works on Unicode scalars.
        for rawLine in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = Substring(String(String.UnicodeScalarView(rawLine)))
            while let first = line.first, first == " " || first == "\t" { line = line.dropFirst() }
            if line.isEmpty || line.first == "#" { continue }
            guard let assignment = parseAssignment(line) else { return nil }
            result.append(assignment)
        }
        return result
    }

    private static func isNameStart(_ c: Character) -> Bool { c == "_" || (c.isASCII && c.isLetter) }
    private static func isNameChar(_ c: Character) -> Bool { c == "_" || (c.isASCII && (c.isLetter || c.isNumber)) }

    private static func parseAssignment(_ line: Substring) -> Assignment? {
        var rest = line
        guard let first = rest.first, isNameStart(first) else { return nil }
        let name = String(rest.prefix(while: isNameChar))
        rest = rest.dropFirst(name.count)
        var index = 0
        if rest.first == "[" {
            rest = rest.dropFirst()
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, let value = Int(digits), digits.count < 9,
                  digits == "0" || digits.first != "0" else { return nil }
            index = value
            rest = rest.dropFirst(digits.count)
            guard rest.first == "]" else { return nil }
            rest = rest.dropFirst()
        }
        guard rest.first == "=" else { return nil }
        rest = rest.dropFirst()
        guard let value = parseValue(rest) else { return nil }
        return Assignment(name: name, index: index, value: value)
    }

    /// A value: concatenated bare and quoted pieces, then only blanks, a
    /// comment or a carriage return.
    private static func parseValue(_ text: Substring) -> String? {
        var value = ""
        var rest = text
        let forbiddenBare: Set<Character> = ["$", "`", "\\", "(", ")", "<", ">", "|", "&", ";", "*", "?", "[", "{", "}", "~", "!", "#"]
        while let c = rest.first {
            if c == "\"" || c == "'" {
                rest = rest.dropFirst()
                guard let end = rest.firstIndex(of: c) else { return nil }
                let quoted = rest[..<end]
                // Upstream prints values inside double quotes and sources
                // them again, so these would be expanded a second time.
                if quoted.contains(where: { $0 == "$" || $0 == "`" || $0 == "\\" || $0 == "!" || $0 == "\"" }) { return nil }
                // The read-back expands the value unquoted: a glob (or an
                // extglob pattern) would be matched against files.
                if quoted.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" || $0 == "(" }) { return nil }
                value += quoted
                rest = rest[rest.index(after: end)...]
            } else if c == " " || c == "\t" {
                break
            } else if c == "\r" {
                // A carriage return ends the word as part of the value.
                value.append(c)
                rest = rest.dropFirst()
            } else if forbiddenBare.contains(c) {
                return nil
            } else {
                value.append(c)
                rest = rest.dropFirst()
            }
        }
        // Only blanks, optionally followed by a comment, may follow.
        while let c = rest.first, c == " " || c == "\t" { rest = rest.dropFirst() }
        // A carriage return after a blank is a command of its own.
        if let c = rest.first, c != "#" { return nil }
        if value.hasPrefix("~") { return nil }
        return value
    }

    /// What dkms' read-back makes of an assigned value: one trailing
    /// carriage return removed, then (as the unquoted expansion in
    /// `eval echo` splits it with the default IFS and echo joins the
    /// words) every run of blanks and newlines becomes one space.
    package static func readBack(_ value: String) -> String {
        var text = Substring(value)
        if text.unicodeScalars.last == "\r" { text = Substring(String(text.unicodeScalars.dropLast())) }
        var result = ""
        var inBlanks = false
        for scalar in text.unicodeScalars {
            if scalar == " " || scalar == "\t" || scalar == "\n" {
                if !inBlanks { result.unicodeScalars.append(" ") }
                inBlanks = true
            } else {
                result.unicodeScalars.append(scalar)
                inBlanks = false
            }
        }
        return result
    }
}
