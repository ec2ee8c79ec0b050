import Foundation

/// A directory under the system temporary directory that is removed with
/// everything in it when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    /// The absolute path (already created).
    public let path: String

    /// Creates a fresh directory.
    public init(prefix: String = "swift-dkms-test") {
        var template = Array("\(NSTemporaryDirectory())/\(prefix).XXXXXX".utf8CString)
        guard let pointer = mkdtemp(&template) else { fatalError("mkdtemp failed") }
        path = URL(fileURLWithPath: String(cString: pointer)).standardizedFileURL.path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// `path/relative`.
    public func child(_ relative: String) -> String {
        path + "/" + relative
    }
}

/// Small file helpers for fixtures.
public enum Files {
    /// Writes text, creating parent directories.
    public static func write(_ text: String, to path: String, executable: Bool = false) {
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8),
                                       attributes: [.posixPermissions: executable ? 0o755 : 0o644])
    }

    /// Creates a directory and its parents.
    public static func makeDirectory(_ path: String) {
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Reads a text file.
    public static func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether something exists at the path (not following a final symlink).
    public static func exists(_ path: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: path)) != nil
    }

    /// The names in a directory, sorted.
    public static func list(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    /// The names in a directory that are not hidden (dkms keeps its lock
    /// and journal in hidden entries of the tree).
    public static func visible(_ path: String) -> [String] {
        list(path).filter { !$0.hasPrefix(".") }
    }

    /// Every file below a directory, relative and sorted.
    public static func walk(_ path: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return [] }
        return enumerator.compactMap { $0 as? String }.sorted()
    }
}
