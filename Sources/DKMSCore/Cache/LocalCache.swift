/// The module cache of one dkms tree (`$dkms_tree/.cache`): entries
/// named by their key, each with its manifest and files, a `used` stamp
/// whose time orders least-recently-used eviction, and hit/miss counters.
///
/// ```
/// .cache/entries/KEY/manifest
/// .cache/entries/KEY/modules/NAME.ko      unsigned, stripped, uncompressed
/// .cache/entries/KEY/Module.symvers
/// .cache/entries/KEY/make.log
/// .cache/entries/KEY/used
/// .cache/stats
/// ```
/// Entries appear and disappear by rename, so a reader never sees half of one.
package struct LocalCache: Sendable {
    /// `$dkms_tree/.cache`.
    package var root: String

    /// Where the cache is read and changed.
    package var fileSystem: any FileSystemAccess

    /// Creates the view of a cache directory on `fileSystem`.
    package init(root: String, fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.root = root
        self.fileSystem = fileSystem
    }

    /// Where entries live.
    package var entriesDirectory: String { root + "/entries" }

    /// The directory of an entry.
    package func directory(of key: CacheKey) -> String { entriesDirectory + "/" + key.hex }

    /// The entry of a key when it is there and intact. A damaged entry is
    /// removed (the next build of that key stores it again) and reported.
    /// - Returns: the entry, nil when there is none, or the refusal of a damaged one.
    package func lookup(_ key: CacheKey, modules: [String]) -> Result<CacheEntry, CacheRefusal>? {
        let directory = directory(of: key)
        guard fileSystem.isDirectory(directory) else { return nil }
        let result = CacheEntry.verify(directory: directory, key: key, modules: modules, fileSystem: fileSystem)
        if case .failure = result { discard(directory) }
        return result
    }

    /// A new empty directory to assemble an entry in before it is adopted.
    package func stagingDirectory() -> String? {
        guard fileSystem.makeDirectories(entriesDirectory) else { return nil }
        return fileSystem.makeTemporaryDirectory(template: entriesDirectory + "/.staging-XXXXXX")
    }

    /// Stores a build: copies the files into a staging directory, writes
    /// their manifest and moves the entry into place.
    /// - Parameters:
    ///   - files: entry names and the paths to copy them from.
    ///   - created: when the build was made (seconds since the epoch); now when nil.
    /// - Returns: the stored entry, or nil when it could not be written
    ///   (the cache is an optimisation: the build goes on).
    @discardableResult
    package func store(key: CacheKey, target: BuildPlan.Target, files: [(name: String, source: String)],
                       created: Int? = nil) -> CacheEntry? {
        guard let staging = stagingDirectory() else { return nil }
        let created = created ?? fileSystem.now()
        let digest = TreeDigest(fileSystem: fileSystem)
        var records: [CacheManifest.File] = []
        for (name, source) in files {
            let path = staging + "/" + name
            guard CacheManifest.isSafeName(name), fileSystem.makeDirectories(FileSystem.split(path).directory),
                  fileSystem.copyFileAtomically(from: source, to: path),
                  let size = fileSystem.size(of: path), let sum = digest.fileDigest(path)
            else {
                fileSystem.removeTree(staging)
                return nil
            }
            records.append(.init(name: name, size: size, digest: sum))
        }
        let manifest = CacheManifest(key: key, target: target, created: created, files: records)
        guard fileSystem.writeText(manifest.text, to: staging + "/manifest"), adopt(staging, as: key) else {
            fileSystem.removeTree(staging)
            return nil
        }
        return CacheEntry(directory: directory(of: key), manifest: manifest)
    }

    /// Moves an assembled entry into place under its key, replacing an
    /// older entry of the same key.
    @discardableResult
    package func adopt(_ staging: String, as key: CacheKey) -> Bool {
        fileSystem.touch(staging + "/used")
        let destination = directory(of: key)
        if fileSystem.exists(destination) { discard(destination) }
        return fileSystem.rename(staging, to: destination)
    }

    /// Marks an entry as just used (eviction keeps recently used entries).
    package func markUsed(_ key: CacheKey) {
        fileSystem.touch(directory(of: key) + "/used")
    }

    /// Removes an entry directory: renamed away first, so it disappears at once.
    package func discard(_ directory: String) {
        fileSystem.retire(directory, to: entriesDirectory + "/.discarded-")
    }

    /// The entries (manifests that parse), most recently used first.
    package func entries() -> [CachedBuild] {
        var found: [CachedBuild] = []
        for name in fileSystem.entries(of: entriesDirectory) where CacheKey(hex: name) != nil {
            let directory = entriesDirectory + "/" + name
            guard let text = fileSystem.readText(directory + "/manifest"), let manifest = CacheManifest(text: text) else { continue }
            let stamp = fileSystem.modificationStamp(of: directory + "/used") ?? CacheNumber.product(manifest.created, 1_000_000_000)
            found.append(CachedBuild(manifest: manifest, lastUsed: stamp / 1_000_000_000, usedStamp: stamp, directory: directory))
        }
        return found.sorted { ($0.usedStamp, $0.manifest.key.hex) > ($1.usedStamp, $1.manifest.key.hex) }
    }

    /// Removes the least recently used entries until the rest take at
    /// most `limit` bytes, and leftovers of interrupted stores.
    /// - Returns: the entries removed.
    @discardableResult
    package func evict(toAtMost limit: Int) -> [CachedBuild] {
        for name in fileSystem.entries(of: entriesDirectory) where name.hasPrefix(".staging-") || name.hasPrefix(".discarded-") {
            fileSystem.removeTree(entriesDirectory + "/" + name)
        }
        var total = 0
        var removed: [CachedBuild] = []
        for entry in entries() {
            total = CacheNumber.sum(total, entry.manifest.size)
            if total > limit {
                discard(entry.directory)
                removed.append(entry)
            }
        }
        return removed
    }

    // MARK: Fleet lookups

    /// Where the fleet lookup records of the entries live
    /// (`.cache/identities/LOOKUP`, see ``FleetLookupRecord``).
    package var identitiesDirectory: String { root + "/identities" }

    /// Records that a build's lookup key names an entry (written when a
    /// build is stored or adopted; `cache export` publishes them signed).
    @discardableResult
    package func record(_ record: FleetLookupRecord) -> Bool {
        let path = identitiesDirectory + "/" + record.lookup.hex
        if fileSystem.readText(path) == record.text { return true }
        return fileSystem.makeDirectories(identitiesDirectory)
            && fileSystem.writeBytesAtomically(Array(record.text.utf8), to: path, mode: 0o644)
    }

    /// The record of a lookup key when its entry is still in the cache (a
    /// record whose entry was evicted is removed).
    package func record(for lookup: FleetLookupKey) -> FleetLookupRecord? {
        let path = identitiesDirectory + "/" + lookup.hex
        guard let text = fileSystem.readText(path) else { return nil }
        guard let record = FleetLookupRecord(text: text), record.lookup == lookup, fileSystem.isDirectory(directory(of: record.entry)) else {
            fileSystem.removeFile(path)
            return nil
        }
        return record
    }

    /// Every record whose entry is in the cache.
    package func records() -> [FleetLookupRecord] {
        fileSystem.entries(of: identitiesDirectory).sorted().compactMap { name in
            FleetLookupKey(hex: name).flatMap { record(for: $0) }
        }
    }

    // MARK: Counters

    /// The counters file.
    package var statsFile: String { root + "/stats" }

    /// The counters: `hits`, `misses`, `stored`, `evicted`, `refused`
    /// (a value that is not a plain number is left out).
    package func counters() -> [String: Int] {
        var counters: [String: Int] = [:]
        for line in (fileSystem.readText(statsFile) ?? "").split(separator: "\n") {
            let words = line.split(separator: " ")
            if words.count == 2, let value = CacheNumber.parse(words[1], in: 0...Int.max) { counters[String(words[0])] = value }
        }
        return counters
    }

    /// Adds to counters (commands that change the tree hold its lock, so
    /// updates do not race).
    package func count(_ increments: [String: Int]) {
        guard !increments.isEmpty, fileSystem.makeDirectories(root) else { return }
        var counters = self.counters()
        for (name, value) in increments { counters[name] = CacheNumber.sum(counters[name] ?? 0, value) }
        let text = counters.keys.sorted().map { "\($0) \(counters[$0] ?? 0)" }.joined(separator: "\n") + "\n"
        fileSystem.writeBytesAtomically(Array(text.utf8), to: statsFile)
    }
}

/// An entry as `dkms cache list` shows it.
package struct CachedBuild: Sendable {
    /// Its manifest.
    package var manifest: CacheManifest
    /// When it was last used (seconds since the epoch).
    package var lastUsed: Int
    /// The same in nanoseconds, which orders eviction.
    package var usedStamp: Int
    /// Its directory.
    package var directory: String
}

extension Sequence<CachedBuild> {
    /// The bytes the entries' files take.
    package var totalSize: Int { reduce(0) { CacheNumber.sum($0, $1.manifest.size) } }
}
