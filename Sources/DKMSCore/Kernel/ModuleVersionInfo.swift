/// The version facts dkms compares between two module files
/// (`modinfo`'s `version:` and `srcversion:` fields).
package struct ModuleVersionInfo: Sendable, Equatable {
    /// The first word of `version:`.
    package var version: String
    /// `srcversion:`, or the old checksum after the version.
    package var sourceVersion: String

    /// Parses `modinfo FILE` output as upstream's `get_module_verinfo` does.
    package init(modinfoOutput: String) {
        var version = ""
        var checksum = ""
        var sourceVersion = ""
        for line in modinfoOutput.split(separator: "\n") {
            let words = ShellText.words(String(line))
            guard let key = words.first else { continue }
            if key == "version:" {
                version = words.count > 1 ? words[1] : ""
                checksum = words.count > 2 ? words[2] : ""
            } else if key == "srcversion:" {
                sourceVersion = words.count > 1 ? words[1] : ""
            }
        }
        self.version = version
        self.sourceVersion = sourceVersion.isEmpty ? checksum : sourceVersion
    }

    /// The facts from `.modinfo` entries, as modinfo would print them.
    package init(fields: [(key: String, value: String)]) {
        var text = ""
        for (key, value) in fields where key == "version" || key == "srcversion" {
            text += "\(key): \(value)\n"
        }
        self.init(modinfoOutput: text)
    }

    /// Upstream's `compare_module_version` verdict.
    package enum Comparison: String, Sendable {
        case identical = "=="
        case sameVersion = "="
        case newer = ">"
        case older = "<"
    }

    /// Compares `self` (the first module) with `other`.
    package func compare(to other: ModuleVersionInfo) -> Comparison {
        if version == other.version {
            return sourceVersion == other.sourceVersion ? .identical : .sameVersion
        }
        return VersionKey(version) > VersionKey(other.version) ? .newer : .older
    }
}

extension Engine {
    /// `modinfo FILE` reduced to the version facts: read directly from the
    /// module's `.modinfo` section, or through modinfo for compressed files.
    func moduleVersionInfo(_ path: String, showErrors: Bool = true) async -> ModuleVersionInfo {
        var files: ModuleFileContents?
        return await moduleVersionInfo(path, showErrors: showErrors, files: &files)
    }

    /// ``moduleVersionInfo(_:showErrors:)`` reading the file through
    /// `files` when given (its bytes are then kept for a later comparison).
    func moduleVersionInfo(_ path: String, showErrors: Bool = true, files: inout ModuleFileContents?) async -> ModuleVersionInfo {
        if let fields = files != nil ? files!.modinfo(of: path) : ModuleInfoReader.read(path: path) {
            return ModuleVersionInfo(fields: fields)
        }
        // modinfo would only complain about a missing file.
        if !showErrors && !FileSystem.exists(path) { return ModuleVersionInfo(modinfoOutput: "") }
        let outcome = await run("modinfo", [path], output: .capture, error: showErrors ? .inherit : .discard)
        return ModuleVersionInfo(modinfoOutput: outcome.outputText)
    }
}
