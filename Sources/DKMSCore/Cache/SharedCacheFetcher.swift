/// Fetches a build from a shared cache location into the local cache,
/// taking it only when its manifest is signed by a trusted fleet key,
/// names the build looked up, and every file matches it (see docs/cache.md).
package struct SharedCacheFetcher: Sendable {
    /// What became of looking a key up in one location.
    package enum Outcome: Sendable {
        /// The location does not have the build: a silent miss.
        case absent
        /// The location could not be read (unreachable, silent or too slow
        /// server, a file larger than allowed, curl missing…): the location
        /// is not to be used again in the command.
        case unreadable(String)
        /// The location has the build but it is not trusted or not intact.
        case refused(CacheRefusal)
        /// The build is now an entry of the local cache.
        case adopted(CacheEntry)
    }

    /// The keys whose signatures are trusted.
    package var trusted: TrustedKeys
    /// Runs curl.
    package var runner: any ProcessRunning
    /// curl's environment (proxies).
    package var environment: [String: String]

    /// The most bytes a manifest or its signature may have.
    package static let manifestLimit = 1 << 20

    /// Names an entry's manifest may not list (they are the entry's own).
    static let reservedNames: Set<String> = ["manifest", ManifestSignature.fileName, "used"]

    /// Creates a fetcher.
    package init(trusted: TrustedKeys, runner: any ProcessRunning, environment: [String: String]) {
        self.trusted = trusted
        self.runner = runner
        self.environment = environment
    }

    /// Looks a build up in a location and, when it is there and passes
    /// every check, adopts it into `cache`. A staging directory of the
    /// local cache holds what is fetched (on the cache's file system, which
    /// a directory location is read from too); it is removed unless adopted.
    /// No file it fetches grows beyond what it may have (the manifest's
    /// limit, then the size the manifest declares) plus
    /// ``SharedCacheLocation/writeSlack``.
    /// - Parameters:
    ///   - target: the build looked up (its kernel is what the modules' vermagic must name).
    ///   - modules: the modules the build collects (each must be in the
    ///     entry, and declare its own name in its modinfo).
    ///   - seconds: how long all its downloads together may take.
    package func fetch(_ key: CacheKey, target: BuildPlan.Target, modules: [BuildPlan.CollectedModule],
                       from location: SharedCacheLocation, into cache: LocalCache,
                       seconds: Int = SharedCacheLocation.downloadTimeout) async -> Outcome {
        guard let staging = cache.stagingDirectory() else { return .unreadable("the local cache cannot be written") }
        let deadline = ContinuousClock.now + .seconds(max(seconds, 0))
        let fileSystem = cache.fileSystem
        let outcome = await fetch(key, target: target, modules: modules, from: location, staging: staging, deadline: deadline,
                                  fileSystem: fileSystem)
        guard case .adopted(let entry) = outcome else {
            fileSystem.removeTree(staging)
            return outcome
        }
        fileSystem.removeFile(staging + "/" + ManifestSignature.fileName)
        guard cache.adopt(staging, as: key) else {
            fileSystem.removeTree(staging)
            return .unreadable("the local cache cannot be written")
        }
        return .adopted(CacheEntry(directory: cache.directory(of: key), manifest: entry.manifest))
    }

    /// Looks a build up by its fleet lookup key (a client without the
    /// kernel's headers): fetches `identities/LOOKUP` and its signature,
    /// takes the record only when a trusted key signed it and it answers
    /// this build and kernel, then fetches the entry it names as
    /// ``fetch(_:target:modules:from:into:seconds:)`` does, with the same checks.
    /// - Returns: the outcome, with the record when one was taken.
    package func fetch(lookup: FleetLookupKey, kernel: KernelBuildIdentity, target: BuildPlan.Target,
                       modules: [BuildPlan.CollectedModule], from location: SharedCacheLocation, into cache: LocalCache,
                       seconds: Int = SharedCacheLocation.downloadTimeout) async -> (Outcome, FleetLookupRecord?) {
        guard let staging = cache.stagingDirectory() else { return (.unreadable("the local cache cannot be written"), nil) }
        let fileSystem = cache.fileSystem
        defer { fileSystem.removeTree(staging) }
        let started = ContinuousClock.now
        let path = "identities/\(lookup.hex)"
        var texts: [String?] = []
        for (file, shown) in [(path, "lookup record \(lookup.short)"), (path + ".sig", "its signature")] {
            let destination = staging + "/" + (file.hasSuffix(".sig") ? "record.sig" : "record")
            switch await location.fetch(path: file, shownAs: shown, to: destination, maxSize: FleetLookupRecord.sizeLimit,
                                        seconds: seconds, runner: runner, environment: environment, fileSystem: fileSystem) {
            case .fetched: texts.append(fileSystem.readText(destination))
            case .absent:
                if texts.isEmpty { return (.absent, nil) }
                texts.append(nil)
            case .failed(let reason): return (.unreadable(reason), nil)
            }
        }
        guard let text = texts[0] else { return (.unreadable("the lookup record cannot be read back"), nil) }
        if case .failure(let refusal) = trusted.check(manifest: Array(text.utf8), signature: texts[1], document: "text") {
            return (.refused(.init("its lookup record \(lookup.short): " + refusal.description)), nil)
        }
        guard let record = FleetLookupRecord(text: text) else { return (.refused(.init("its lookup record \(lookup.short) is malformed")), nil) }
        guard record.answers(lookup, target: target, kernel: kernel) else {
            return (.refused(.init("its lookup record \(lookup.short) names another build (\(record.target), kernel \(record.banner))")), nil)
        }
        let left = seconds - SharedCacheLedger.wholeSeconds(started.duration(to: .now))
        guard left > 0 else { return (.unreadable("its time for this command ran out before entry \(record.entry.short)"), nil) }
        let outcome = await fetch(record.entry, target: target, modules: modules, from: location, into: cache, seconds: left)
        if case .absent = outcome { return (.refused(.init("its lookup record names entry \(record.entry.short), which it does not have")), nil) }
        return (outcome, record)
    }

    /// Fetches and checks an entry in `staging` (an adopted entry's
    /// directory is then `staging`).
    private func fetch(_ key: CacheKey, target: BuildPlan.Target, modules: [BuildPlan.CollectedModule],
                       from location: SharedCacheLocation, staging: String, deadline: ContinuousClock.Instant,
                       fileSystem: any FileSystemAccess) async -> Outcome {
        func get(_ file: String, _ maxSize: Int) async -> SharedCacheLocation.Fetch {
            let left = SharedCacheLedger.wholeSeconds(ContinuousClock.now.duration(to: deadline))
            guard left > 0 else { return .failed("its time for this command ran out before \(file)") }
            let destination = staging + "/" + file
            guard fileSystem.makeDirectories(FileSystem.split(destination).directory) else { return .failed("\(file) cannot be stored") }
            return await location.fetch(key, file: file, to: destination, maxSize: maxSize, seconds: left,
                                        runner: runner, environment: environment, fileSystem: fileSystem)
        }
        switch await get("manifest", Self.manifestLimit) {
        case .fetched: break
        case .absent: return .absent
        case .failed(let reason): return .unreadable(reason)
        }
        var signature: String?
        switch await get(ManifestSignature.fileName, Self.manifestLimit) {
        case .fetched: signature = fileSystem.readText(staging + "/" + ManifestSignature.fileName)
        case .absent: signature = nil
        case .failed(let reason): return .unreadable(reason)
        }
        guard let bytes = fileSystem.readBytes(staging + "/manifest") else { return .unreadable("manifest cannot be read back") }
        if case .failure(let refusal) = trusted.check(manifest: bytes, signature: signature) { return .refused(refusal) }
        guard let manifest = CacheManifest(text: String(decoding: bytes, as: UTF8.self)) else {
            return .refused(.init("its manifest is malformed"))
        }
        guard manifest.key == key else { return .refused(.init("its manifest is for another build (\(manifest.key.short))")) }
        guard manifest.target == target else { return .refused(.init("its manifest names another build (\(manifest.target))")) }
        for file in manifest.files {
            guard !Self.reservedNames.contains(file.name) else { return .refused(.init("its manifest lists \(file.name)")) }
            switch await get(file.name, file.size) {
            case .fetched: continue
            case .absent: return .refused(.init("\(file.name) is missing"))
            case .failed(let reason): return .unreadable(reason)
            }
        }
        switch CacheEntry.verify(manifest, in: staging, key: key, modules: modules.map(\.destName), fileSystem: fileSystem) {
        case .failure(let refusal): return .refused(refusal)
        case .success(let entry):
            if let refusal = Self.moduleRefusal(entry, kernel: target.kernel, modules: modules) { return .refused(refusal) }
            return .adopted(entry)
        }
    }

    /// Why an entry's modules cannot be the build's: the first word of
    /// every module's vermagic must be the kernel release, and each module
    /// the build collects must declare (modinfo `name`) its
    /// `BUILT_MODULE_NAME` or `DEST_MODULE_NAME`, `-` and `_` being the
    /// same to the kernel.
    static func moduleRefusal(_ entry: CacheEntry, kernel: String, modules: [BuildPlan.CollectedModule]) -> CacheRefusal? {
        func normalized(_ name: String) -> String { name.replacingOccurrences(of: "-", with: "_") }
        for file in entry.manifest.files where file.name.hasPrefix("modules/") && file.name.hasSuffix(".ko") {
            let fields = ModuleInfoReader.fields(path: entry.path(file.name))
            let vermagic = fields["vermagic"]?.first ?? ""
            let release = vermagic.split(separator: " ").first.map(String.init) ?? ""
            guard release == kernel else {
                return .init(release.isEmpty ? "\(file.name) has no vermagic" : "\(file.name) is for kernel \(release), not \(kernel)")
            }
            guard let module = modules.first(where: { CacheManifest.moduleFile($0.destName) == file.name }) else { continue }
            let names = Set([module.destName, FileSystem.split(module.builtStem).name].map(normalized))
            guard let declared = fields["name"]?.first, !declared.isEmpty else { return .init("\(file.name) declares no module name") }
            guard names.contains(normalized(declared)) else {
                return .init("\(file.name) is module \(declared), not \(module.destName)")
            }
        }
        return nil
    }
}
