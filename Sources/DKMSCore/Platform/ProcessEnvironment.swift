#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The environment of the running process.
package enum ProcessEnvironment {
    /// All variables of the current process.
    package static var current: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    /// The path of this program's executable (`/proc/self/exe` resolved),
    /// or nil. A fact of the running process, read once: no injected file
    /// system can stand for it.
    package static let executablePath: String? = FileSystem.realPath("/proc/self/exe")
}
