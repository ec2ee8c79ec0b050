/// The binary packages of a Debian source package (`debian/control`).
package struct DebianControl: Sendable, Equatable {
    /// One `Package:` stanza.
    package struct BinaryPackage: Sendable, Equatable {
        /// `Package:`.
        package var name: String
        /// `Architecture:` (`all`, `any`, …).
        package var architecture: String
    }

    /// The packages in file order.
    package var packages: [BinaryPackage]

    /// Parses control file text (stanzas separated by blank lines).
    package init(text: String) {
        var packages: [BinaryPackage] = []
        for stanza in text.components(separatedByBlankLines: ()) {
            var fields: [String: String] = [:]
            for line in stanza.split(separator: "\n") where !line.hasPrefix(" ") && !line.hasPrefix("\t") && !line.hasPrefix("#") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[line[..<colon].lowercased()] = String(line[line.index(after: colon)...]).trimmingBlanks()
            }
            if let name = fields["package"] {
                packages.append(BinaryPackage(name: name, architecture: fields["architecture"] ?? "any"))
            }
        }
        self.packages = packages
    }
}

extension String {
    /// Splits text into blocks separated by blank lines.
    func components(separatedByBlankLines: Void) -> [String] {
        var blocks: [String] = []
        var current: [Substring] = []
        for line in split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters() .isEmpty {
                if !current.isEmpty { blocks.append(current.joined(separator: "\n")) }
                current = []
            } else {
                current.append(line)
            }
        }
        if !current.isEmpty { blocks.append(current.joined(separator: "\n")) }
        return blocks
    }
}
