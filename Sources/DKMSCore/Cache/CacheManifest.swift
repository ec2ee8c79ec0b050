/// The description of one cache entry: which build it holds and the
/// digest and size of every file in it. Its text is what a fleet key
/// signs, so it is rendered the same way on every machine.
///
/// ```
/// swift-dkms cache entry 1
/// key 3f0c…
/// target hello 1.0 6.1.0-57-amd64 x86_64
/// created 1796054400
/// file 9a1e… 10232 modules/hello.ko
/// file 51b0… 2114 make.log
/// ```
package struct CacheManifest: Sendable, Hashable {
    /// One file of an entry.
    package struct File: Sendable, Hashable {
        /// Its path inside the entry (`modules/NAME.ko`, `Module.symvers`, `make.log`).
        package var name: String
        /// Its size in bytes.
        package var size: Int
        /// The SHA-256 of its content.
        package var digest: String

        /// Creates a file record.
        package init(name: String, size: Int, digest: String) {
            self.name = name
            self.size = size
            self.digest = digest
        }
    }

    /// The first line: the layout version.
    package static let header = "swift-dkms cache entry 1"

    /// The `created` times a manifest may give: from the epoch to 2106
    /// (beyond, dates and nanosecond stamps stop being representable).
    package static let createdRange = 0...Int(UInt32.max)
    /// The most bytes one file of an entry may declare (4 GiB).
    package static let maxFileSize = 1 << 32
    /// The most files an entry may list.
    package static let maxFiles = 10_000

    /// The build's key.
    package var key: CacheKey
    /// The build.
    package var target: BuildPlan.Target
    /// When the build ran (seconds since the epoch).
    package var created: Int
    /// The files, in order.
    package var files: [File]

    /// Creates a manifest.
    package init(key: CacheKey, target: BuildPlan.Target, created: Int, files: [File]) {
        self.key = key
        self.target = target
        self.created = created
        self.files = files
    }

    /// The entry path of a built module.
    package static func moduleFile(_ destName: String) -> String { "modules/\(destName).ko" }

    /// The entry path of the build's log.
    package static let logFile = "make.log"

    /// The entry path of the build's `Module.symvers`.
    package static let symversFile = "Module.symvers"

    /// The manifest's text.
    package var text: String {
        var lines = [Self.header, "key \(key.hex)",
                     "target \(target.module) \(target.version) \(target.kernel) \(target.arch)",
                     "created \(created)"]
        lines += files.map { "file \($0.digest) \($0.size) \($0.name)" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses a manifest; nil when anything in it is not as written by
    /// ``text`` (an unknown layout, a malformed line, an unsafe file name,
    /// a number that is not plain ASCII digits or out of its range, any
    /// other spelling of the same content).
    package init?(text: String) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.last == "" else { return nil }
        lines.removeLast()
        guard lines.count >= 4, lines[0] == Self.header else { return nil }
        func value(_ line: String, _ name: String) -> String? {
            line.hasPrefix(name + " ") ? String(line.dropFirst(name.count + 1)) : nil
        }
        guard let keyText = value(lines[1], "key"), let key = CacheKey(hex: keyText),
              let targetWords = value(lines[2], "target")?.split(separator: " ").map(String.init), targetWords.count == 4,
              let createdText = value(lines[3], "created"),
              let created = CacheNumber.parse(createdText, in: Self.createdRange),
              lines.count - 4 <= Self.maxFiles
        else { return nil }
        var files: [File] = []
        for line in lines.dropFirst(4) {
            guard let rest = value(line, "file") else { return nil }
            let words = rest.split(separator: " ", maxSplits: 2).map(String.init)
            guard words.count == 3, CacheKey(hex: words[0]) != nil, let size = CacheNumber.parse(words[1], in: 0...Self.maxFileSize),
                  Self.isSafeName(words[2]), !files.contains(where: { $0.name == words[2] })
            else { return nil }
            files.append(File(name: words[2], size: size, digest: words[0]))
        }
        self.init(key: key, target: .init(module: targetWords[0], version: targetWords[1], kernel: targetWords[2], arch: targetWords[3]),
                  created: created, files: files)
        // Only the one way ``text`` writes it (no leading zeros, no doubled spaces).
        guard self.text == text else { return nil }
    }

    /// Whether a file name stays inside its entry: relative, no `.` or
    /// `..` component, no empty component.
    package static func isSafeName(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix("/") else { return false }
        return name.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    /// The record of a file, if the entry has it.
    package func file(_ name: String) -> File? { files.first { $0.name == name } }

    /// The bytes all files take (`Int.max` rather than an overflow).
    package var size: Int { files.reduce(0) { CacheNumber.sum($0, $1.size) } }
}
