/// Writes local cache entries into a shared cache directory that a
/// static web server can serve as is:
///
/// ```
/// DIR/entries/KEY/manifest        the entry's manifest, byte for byte
/// DIR/entries/KEY/manifest.sig    its signature by the fleet key
/// DIR/entries/KEY/FILE            the files it lists
/// DIR/index                       KEY MODULE VERSION KERNEL ARCH, one line per entry
/// DIR/identities/LOOKUP           a fleet lookup record (``FleetLookupRecord``)
/// DIR/identities/LOOKUP.sig       its signature by the fleet key
/// ```
/// Each entry is assembled in a staging directory and renamed into place,
/// so a client never sees half of one; entries already there, signed by
/// the same key, are left alone (exporting again changes nothing).
package struct CacheExporter: Sendable {
    /// What an export did.
    package struct Report: Sendable {
        /// Entries written.
        package var written: [CacheKey] = []
        /// Entries that were already there, identical and signed by the key.
        package var unchanged: [CacheKey] = []
        /// Local entries left out because they are damaged, with why.
        package var damaged: [(key: CacheKey, refusal: CacheRefusal)] = []
        /// Entries that could not be written.
        package var failed: [CacheKey] = []
        /// Whether the index was written.
        package var indexWritten = false
        /// Fleet lookup records written or already there.
        package var lookups = 0
        /// Fleet lookup records that could not be written.
        package var failedLookups: [FleetLookupKey] = []
    }

    /// The shared cache directory.
    package var directory: String
    /// The key that signs the manifests.
    package var signingKey: FleetSigningKey

    /// Where the shared directory and the local entries are read and written.
    package var fileSystem: any FileSystemAccess

    /// Creates an exporter.
    package init(directory: String, signingKey: FleetSigningKey, fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.directory = directory
        self.signingKey = signingKey
        self.fileSystem = fileSystem
    }

    /// Where entries go.
    package var entriesDirectory: String { directory + "/entries" }

    /// The index file.
    package var indexFile: String { directory + "/index" }

    /// Exports local entries, then rewrites the index.
    /// - Returns: what was done, or nil when the directory cannot be made.
    /// - Parameter records: the fleet lookup records of the local cache;
    ///   those whose entry is exported are published, signed.
    package func export(_ builds: [CachedBuild], records: [FleetLookupRecord] = []) -> Report? {
        guard fileSystem.makeDirectories(entriesDirectory) else { return nil }
        var report = Report()
        for build in builds {
            let key = build.manifest.key
            switch CacheEntry.verify(directory: build.directory, key: key, modules: [], fileSystem: fileSystem) {
            case .failure(let refusal):
                report.damaged.append((key, refusal))
            case .success(let entry):
                guard let manifest = fileSystem.readBytes(entry.path("manifest")) else {
                    report.damaged.append((key, .init("it has no readable manifest")))
                    continue
                }
                if isExported(entry, manifest: manifest) {
                    report.unchanged.append(key)
                } else if write(entry, manifest: manifest) {
                    report.written.append(key)
                } else {
                    report.failed.append(key)
                }
            }
        }
        let exported = Set(report.written + report.unchanged)
        for record in records where exported.contains(record.entry) {
            if write(record) { report.lookups += 1 } else { report.failedLookups.append(record.lookup) }
        }
        report.indexWritten = writeIndex()
        return report
    }

    /// Where lookup records go.
    package var identitiesDirectory: String { directory + "/identities" }

    /// Writes a lookup record and its signature (each renamed into place,
    /// the signature first: a client that reads a new record with an old
    /// signature refuses it and builds or retries later).
    func write(_ record: FleetLookupRecord) -> Bool {
        let path = identitiesDirectory + "/" + record.lookup.hex
        let bytes = Array(record.text.utf8)
        let signature = ManifestSignature(signing: bytes, with: signingKey)
        if fileSystem.readBytes(path) == bytes, fileSystem.readText(path + ".sig") == signature.text { return true }
        return fileSystem.makeDirectories(identitiesDirectory) && fileSystem.setMode(0o755, of: identitiesDirectory)
            && fileSystem.writeBytesAtomically(Array(signature.text.utf8), to: path + ".sig", mode: 0o644)
            && fileSystem.writeBytesAtomically(bytes, to: path, mode: 0o644)
    }

    /// Whether the shared directory already holds the entry, with the same
    /// manifest bytes, signed by this key, and intact.
    func isExported(_ entry: CacheEntry, manifest: [UInt8]) -> Bool {
        let destination = entriesDirectory + "/" + entry.manifest.key.hex
        guard fileSystem.readBytes(destination + "/manifest") == manifest,
              let text = fileSystem.readText(destination + "/" + ManifestSignature.fileName),
              let signature = ManifestSignature(text: text)
        else { return false }
        let key = signingKey.publicKey
        guard signature.keyID == key.id, key.isValidSignature(signature.signature, for: manifest) else { return false }
        if case .success = CacheEntry.verify(directory: destination, key: entry.manifest.key, modules: [], fileSystem: fileSystem) { return true }
        return false
    }

    /// Assembles an entry in a staging directory (readable by everyone, as
    /// a web server may run as another user) and renames it into place.
    func write(_ entry: CacheEntry, manifest: [UInt8]) -> Bool {
        guard let staging = fileSystem.makeTemporaryDirectory(template: entriesDirectory + "/.staging-XXXXXX") else { return false }
        var ok = fileSystem.setMode(0o755, of: staging)
        for file in entry.manifest.files where ok {
            let path = staging + "/" + file.name
            let parent = FileSystem.split(path).directory
            ok = fileSystem.makeDirectories(parent) && fileSystem.setMode(0o755, of: parent)
                && fileSystem.copyFileAtomically(from: entry.path(file.name), to: path) && fileSystem.setMode(0o644, of: path)
        }
        let signature = ManifestSignature(signing: manifest, with: signingKey)
        ok = ok && fileSystem.writeBytes(manifest, to: staging + "/manifest", mode: 0o644)
            && fileSystem.writeBytes(Array(signature.text.utf8), to: staging + "/" + ManifestSignature.fileName, mode: 0o644)
        let destination = entriesDirectory + "/" + entry.manifest.key.hex
        let replaced = entriesDirectory + "/.replaced-" + entry.manifest.key.hex
        fileSystem.removeTree(replaced)
        let replacing = ok && fileSystem.existsNoFollow(destination)
        if replacing { ok = fileSystem.rename(destination, to: replaced) }
        ok = ok && fileSystem.rename(staging, to: destination)
        if replacing && !ok { fileSystem.rename(replaced, to: destination) }
        fileSystem.removeTree(replaced)
        if !ok { fileSystem.removeTree(staging) }
        return ok
    }

    /// The index lines of the entries the directory holds, sorted (its
    /// `entries/KEY/manifest` layout is a local cache's).
    package func indexLines() -> [String] {
        LocalCache(root: directory, fileSystem: fileSystem).entries().map { build in
            let target = build.manifest.target
            return "\(build.manifest.key.hex) \(target.module) \(target.version) \(target.kernel) \(target.arch)"
        }.sorted()
    }

    /// Rewrites the index (a new file renamed over the old one) unless it
    /// is up to date.
    @discardableResult
    package func writeIndex() -> Bool {
        let lines = indexLines()
        let text = lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
        if fileSystem.readText(indexFile) == text { return true }
        return fileSystem.writeBytesAtomically(Array(text.utf8), to: indexFile, mode: 0o644)
    }
}
