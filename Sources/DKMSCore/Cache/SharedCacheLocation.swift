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

    /// The address of a file of an entry. For a web location, every path
    /// segment of `file` (a name from a manifest) is percent-encoded, so
    /// `?`, `#`, `%`, spaces or brackets stay part of the name.
    package func address(of key: CacheKey, file: String) -> String {
        address(ofPath: "entries/\(key.hex)/\(file)")
    }

    /// The address of a file below the location (`entries/KEY/FILE`,
    /// `identities/LOOKUP`), percent-encoded for a web location.
    package func address(ofPath path: String) -> String {
        guard isRemote else { return "\(address)/\(path)" }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).map { Self.percentEncoded(String($0)) }
        return "\(address)/\(segments.joined(separator: "/"))"
    }

    /// A path segment with every byte but RFC 3986's unreserved ones
    /// (letters, digits, `-._~`) written `%XX`.
    package static func percentEncoded(_ segment: String) -> String {
        var encoded = ""
        for byte in segment.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                encoded.unicodeScalars.append("%")
                encoded.unicodeScalars.append(hex[Int(byte >> 4)])
                encoded.unicodeScalars.append(hex[Int(byte & 15)])
            }
        }
        return encoded
    }

    package var description: String { address }

    /// The longest one download may take, in seconds (less when the
    /// location's time budget for the command has less left).
    package static let downloadTimeout = 300
    /// How long connecting to a web location may take, in seconds.
    package static let connectTimeout = 5
    /// A download slower than this many bytes a second…
    package static let lowSpeedLimit = 1000
    /// …for this many seconds is abandoned (a server that trickles or
    /// accepts and never answers).
    package static let lowSpeedTime = 5
    /// Bytes a download may write beyond the size it is allowed (curl's
    /// own small outputs fall under the same file-size limit).
    package static let writeSlack = 4096

    /// The file-size limit (bytes) curl runs under when a file may have
    /// `maxSize` bytes: what it writes stops there, whether or not the
    /// server announced a length.
    package static func writeLimit(_ maxSize: Int) -> Int { max(maxSize, writeSlack) }

    /// Copies or downloads one file of an entry, never writing more than
    /// ``writeLimit(_:)`` bytes of it.
    /// - Parameters:
    ///   - maxSize: the most bytes the file may have; a larger one fails.
    ///   - seconds: the most a download may take (at least 1).
    ///   - runner, environment: run curl for web locations.
    ///   - fileSystem: where a directory location is read and `destination` written.
    package func fetch(_ key: CacheKey, file: String, to destination: String, maxSize: Int, seconds: Int = downloadTimeout,
                       runner: any ProcessRunning, environment: [String: String],
                       fileSystem: any FileSystemAccess = LocalFileSystem()) async -> Fetch {
        await fetch(path: "entries/\(key.hex)/\(file)", shownAs: file, to: destination, maxSize: maxSize, seconds: seconds,
                    runner: runner, environment: environment, fileSystem: fileSystem)
    }

    /// Copies or downloads one file below the location (see
    /// ``fetch(_:file:to:maxSize:seconds:runner:environment:fileSystem:)``).
    /// - Parameter file: how messages name it.
    package func fetch(path: String, shownAs file: String, to destination: String, maxSize: Int, seconds: Int = downloadTimeout,
                       runner: any ProcessRunning, environment: [String: String],
                       fileSystem: any FileSystemAccess = LocalFileSystem()) async -> Fetch {
        let source = address(ofPath: path)
        let tooLarge = Fetch.failed("\(file) is larger than expected")
        guard isRemote else {
            guard fileSystem.existsNoFollow(source) else { return .absent }
            guard fileSystem.isRegularFile(source), !fileSystem.isSymlink(source) else { return .failed("\(file) is not a regular file") }
            guard let size = fileSystem.size(of: source), size <= maxSize else { return tooLarge }
            // Read with the same bound: a file that grows meanwhile (a share) is cut off, not read whole.
            guard let bytes = fileSystem.readBytes(source, atMost: maxSize) else {
                return (fileSystem.size(of: source) ?? 0) > maxSize ? tooLarge : .failed("\(file) cannot be read")
            }
            return fileSystem.writeBytesAtomically(bytes, to: destination, mode: 0o644) ? .fetched : .failed("\(file) cannot be stored")
        }
        // curl runs under a file-size limit (prlimit) with SIGXFSZ ignored
        // (env), so a body without Content-Length, or longer than it said,
        // stops at the limit with a write error instead of filling the disk.
        let limit = Self.writeLimit(maxSize)
        let outcome = await runner.run(ProcessSpec("prlimit", [
            "--fsize=\(limit)", "--", "env", "--ignore-signal=XFSZ",
            "curl", "-fsSL", "--globoff", "--max-redirs", "5",
            "--max-time", "\(min(max(seconds, 1), Self.downloadTimeout))", "--connect-timeout", "\(Self.connectTimeout)",
            "--speed-limit", "\(Self.lowSpeedLimit)", "--speed-time", "\(Self.lowSpeedTime)",
            "--proto", "=http,https", "--proto-redir", "=http,https", "--max-filesize", "\(max(maxSize, 1))",
            "-w", "%{http_code}", "-o", destination, "--", source,
        ], environment: environment, output: .capture, error: .capture))
        // curl applies --max-filesize to an error page too: the status code decides.
        if outcome.status != 0 && ["404", "410"].contains(outcome.outputText) { return .absent }
        switch outcome.status {
        case 0:
            // Some curl versions create no file for an empty body.
            if !fileSystem.existsNoFollow(destination) { fileSystem.writeBytes([], to: destination) }
            guard let size = fileSystem.size(of: destination), size <= maxSize else { return tooLarge }
            return .fetched
        case 63:
            return tooLarge
        case 23 where (fileSystem.size(of: destination) ?? 0) >= limit:
            return tooLarge
        case 127:
            return .failed("curl or prlimit is not installed")
        default:
            let message = outcome.errorText.split(separator: "\n").first.map(String.init) ?? "curl exit status \(outcome.status)"
            return .failed(message)
        }
    }
}
