import DKMSCore

/// `dkms status --json`: the schema `swift-dkms.status/1`, documented in
/// docs/status-json.md and docs/status.schema.json.
package enum StatusJSON {
    /// The schema identifier written into every document.
    package static let schema = "swift-dkms.status/1"

    /// Renders entries (and the recorded autoinstall failures, as the
    /// optional `failures` array) as one JSON document (with a final newline).
    package static func render(_ entries: [StatusEntry], failures: [AutoinstallFailure] = [], cache: CacheReport? = nil) -> String {
        var out = "{\n  \"schema\": \(quote(schema)),\n  \"entries\": ["
        for (index, entry) in entries.enumerated() {
            out += index == 0 ? "\n" : ",\n"
            var fields: [String] = [
                "\"module\": \(quote(entry.module))",
                "\"version\": \(quote(entry.version))",
                "\"state\": \(quote(entry.state))",
                "\"kernel\": \(entry.kernel.map(quote) ?? "null")",
                "\"arch\": \(entry.arch.map(quote) ?? "null")",
                "\"flags\": {\"original_modules\": \(entry.facts.originalModules), "
                    + "\"differences\": \(entry.facts.problem == .differences), "
                    + "\"missing\": \(entry.facts.problem == .missing)}",
                "\"installed_paths\": [" + entry.facts.installedPaths.map(quote).joined(separator: ", ") + "]",
            ]
            fields.append("\"broken_reason\": \(entry.brokenReason.map(quote) ?? "null")")
            if entry.state == "installed" {
                let signature = entry.facts.signature.map {
                    "{\"signed\": \($0.signed), \"signer\": \($0.signer.map(quote) ?? "null"), \"sig_key\": \($0.keyID.map(quote) ?? "null")}"
                }
                fields.append("\"signature\": \(signature ?? "null")")
            }
            if entry.kernel != nil {
                let origin = entry.facts.origin.map {
                    "{\"from_cache\": \($0.fromCache), \"key\": \($0.key.map(quote) ?? "null"), "
                        + "\"shared_location\": \($0.sharedLocation.map(quote) ?? "null"), \"lookup\": \($0.lookup.map(quote) ?? "null")}"
                }
                fields.append("\"origin\": \(origin ?? "null")")
            }
            out += "    {" + fields.joined(separator: ", ") + "}"
        }
        out += entries.isEmpty ? "]" : "\n  ]"
        if let cache {
            let counters = ["hits", "misses", "stored", "evicted", "fetched", "refused"]
                .map { "\"\($0)\": \(cache.counters[$0] ?? 0)" }.joined(separator: ", ")
            out += ",\n  \"cache\": {\"enabled\": \(cache.enabled), \"entries\": \(cache.entries), \"size\": \(cache.size), \(counters)}"
        }
        out += ",\n  \"failures\": ["
        for (index, failure) in failures.enumerated() {
            out += index == 0 ? "\n" : ",\n"
            let fields = [
                "\"module\": \(quote(failure.module))",
                "\"version\": \(quote(failure.version))",
                "\"kernel\": \(quote(failure.kernel))",
                "\"arch\": \(quote(failure.arch))",
                "\"status\": \(failure.status)",
                "\"log\": \(failure.log.map(quote) ?? "null")",
                "\"time\": \(failure.time)",
            ]
            out += "    {" + fields.joined(separator: ", ") + "}"
        }
        out += failures.isEmpty ? "]\n}\n" : "\n  ]\n}\n"
        return out
    }

    /// A JSON string literal.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
