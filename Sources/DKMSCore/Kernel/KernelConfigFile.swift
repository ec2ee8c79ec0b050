/// A kernel configuration file (`include/config/auto.conf` or `.config`).
package struct KernelConfigFile: Sendable {
    /// The `NAME=value` lines by name, in the order they appear.
    package let values: [String: String]

    /// Parses config text.
    package init(text: String) {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            let name = String(line[..<equals])
            if values[name] == nil { values[name] = String(line[line.index(after: equals)...]) }
        }
        self.values = values
    }

    /// Reads a config file, or nil when it cannot be read.
    package static func load(_ path: String, fileSystem: any FileSystemAccess = LocalFileSystem()) -> KernelConfigFile? {
        guard !path.isEmpty, let text = fileSystem.readText(path) else { return nil }
        return KernelConfigFile(text: text)
    }

    /// `grep -q "^NAME=[ym]"`.
    package func isEnabled(_ name: String) -> Bool {
        guard let value = values[name], let first = value.first else { return false }
        return first == "y" || first == "m"
    }

    /// The value with surrounding double quotes removed (as `sed 's/"//g'`).
    package func unquoted(_ name: String) -> String? {
        values[name].map { $0.replacingOccurrences(of: "\"", with: "") }
    }
}

/// How a distribution rewrites DEST_MODULE_LOCATION (upstream's
/// `override_dest_module_location`).
package struct DestinationPolicy: Sendable, Equatable {
    /// The distribution id dkms detected (`debian`, `ubuntu`, `fedora`…).
    package var distribution: String
    /// `ADDON_MODULES_DIR`, which wins over everything when set.
    package var addonModulesDirectory: String

    /// Creates a policy.
    package init(distribution: String, addonModulesDirectory: String) {
        self.distribution = distribution
        self.addonModulesDirectory = addonModulesDirectory
    }

    /// The directory below `/lib/modules/KVER` where a module goes.
    package func location(for declared: String) -> String {
        if !addonModulesDirectory.isEmpty { return "/" + addonModulesDirectory }
        let d = distribution
        if d.hasPrefix("fedora") || d.hasPrefix("centos") || d.hasPrefix("rhel") { return "/extra" }
        if d.hasPrefix("sles") || d.hasPrefix("suse") || d.hasPrefix("opensuse") { return "/updates" }
        if d.hasPrefix("debian") || d.hasPrefix("ubuntu") || d.hasPrefix("arch") { return "/updates/dkms" }
        return declared
    }
}
