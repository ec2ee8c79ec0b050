/// One location of `build_cache_shared`: a directory or an `http(s)://`
/// URL holding what `dkms cache export` wrote (`entries/KEY/manifest`,
/// `entries/KEY/manifest.sig`, `entries/KEY/FILE`, `index`).
package struct SharedCacheLocation: Sendable, Hashable, CustomStringConvertible {
    /// What became of fetching one file.
    package enum Fetch: Sendable, Equatable {
        /// The file is in the destination.
        case fetched
        /// The location does not have it (no file, HTTP 404 or 410).
        case absent
        /// It could not be fetched, for the reason given.
        case failed(String)
    }

    /// The location as configured, without trailing slashes.
    package var address: String

    /// A location from its configured word.
    package init(_ address: String) {
        var trimmed = Substring(address)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        self.address = String(trimmed)
    }

    /// Whether it is a web location (fetched with curl).
    package var isRemote: Bool { address.hasPrefix("http://") || address.hasPrefix("https://") }

    /// The address of a file of an entry.
    package func address(of key: CacheKey, file: String) -> String {
        "\(address)/entries/\(key.hex)/\(file)"
    }

    package var description: String { address }

    /// How long one download may take, in seconds.
    package static let downloadTimeout = 300
    /// How long connecting to a web location may take, in seconds.
    package static let connectTimeout = 10

    /// Copies or downloads one file of an entry.
    /// - Parameters:
    ///   - maxSize: the most bytes the file may have; a larger one fails.
    ///   - runner, environment: run curl for web locations.
    package func fetch(_ key: CacheKey, file: String, to destination: String, maxSize: Int,
                       runner: any ProcessRunning, environment: [String: String]) async -> Fetch {
        let source = address(of: key, file: file)
        guard isRemote else {
            guard FileSystem.existsNoFollow(source) else { return .absent }
            guard FileSystem.isRegularFile(source), !FileSystem.isSymlink(source) else { return .failed("\(file) is not a regular file") }
            guard let size = FileSystem.size(of: source), size <= maxSize else { return .failed("\(file) is larger than expected") }
            return FileSystem.copyFileAtomically(from: source, to: destination) ? .fetched : .failed("\(file) cannot be read")
        }
        let outcome = await runner.run(ProcessSpec("curl", [
            "-fsSL", "--max-time", "\(Self.downloadTimeout)", "--connect-timeout", "\(Self.connectTimeout)",
            "--proto", "=http,https", "--proto-redir", "=http,https", "--max-filesize", "\(max(maxSize, 1))",
            "-w", "%{http_code}", "-o", destination, "--", source,
        ], environment: environment, output: .capture, error: .capture))
        // curl applies --max-filesize to an error page too: the status code decides.
        if outcome.status != 0 && ["404", "410"].contains(outcome.outputText) { return .absent }
        switch outcome.status {
        case 0:
            // Some curl versions create no file for an empty body.
            if !FileSystem.existsNoFollow(destination) { FileSystem.writeBytes([], to: destination) }
            guard let size = FileSystem.size(of: destination), size <= maxSize else { return .failed("\(file) is larger than expected") }
            return .fetched
        case 63:
            return .failed("\(file) is larger than expected")
        case 127:
            return .failed("curl is not installed")
        default:
            let message = outcome.errorText.split(separator: "\n").first.map(String.init) ?? "curl exit status \(outcome.status)"
            return .failed(message)
        }
    }
}
