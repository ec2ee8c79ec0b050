#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// POSIX extended regular expressions, the dialect of bash's `[[ =~ ]]`.
package enum ExtendedRegex {
    /// Whether `text` contains a match of `pattern`. An invalid pattern
    /// matches nothing (bash returns status 2, which is false).
    package static func matches(_ text: String, pattern: String) -> Bool {
        var regex = regex_t()
        guard regcomp(&regex, pattern, REG_EXTENDED | REG_NOSUB) == 0 else { return false }
        defer { regfree(&regex) }
        return regexec(&regex, text, 0, nil, 0) == 0
    }
}
