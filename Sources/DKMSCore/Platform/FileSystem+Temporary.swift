#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension FileSystem {
    /// Creates a unique empty file from a `mktemp` template.
    package static func makeTemporaryFile(template: String) -> String? {
        var bytes = Array(template.utf8CString)
        let fd = mkstemp(&bytes)
        guard fd >= 0 else { return nil }
        close(fd)
        return String(cString: bytes)
    }
}
