/// Shared module caches for fleets: exporting signed entries and
/// fetching trusted ones (see docs/cache.md).
struct SharedCacheSteps: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// `build_cache_trusted_keys`, by default `/etc/dkms/cache-keys`.
    var trustedKeysDirectory: String {
        settings.buildCacheTrustedKeys.isEmpty ? engine.etcDirectory + "/cache-keys" : settings.buildCacheTrustedKeys
    }

    /// `build_cache_signing_key`, by default `/etc/dkms/cache-signing.key`.
    var signingKeyFile: String {
        settings.buildCacheSigningKey.isEmpty ? engine.etcDirectory + "/cache-signing.key" : settings.buildCacheSigningKey
    }

    /// Looks a key up in the shared locations and adopts a trusted,
    /// intact entry into the local cache (nil: none has it, or none is
    /// trusted). Each refused entry is one line on standard error and
    /// counts as `refused`; an adopted one counts as `fetched`. A location
    /// that cannot be read (or has used its `build_cache_shared_budget`)
    /// is one line on standard error, and is skipped for the rest of the
    /// command.
    func fetchFromSharedCaches(_ key: CacheKey, plan: BuildPlan, into cache: LocalCache) async
        -> (entry: CacheEntry, record: FleetLookupRecord?, location: SharedCacheLocation)? {
        await fetchFromSharedCaches(build: "build \(key.short) of \(plan.target)", afterLast: "building locally", into: cache) {
            fetcher, location, seconds in
            (await fetcher.fetch(key, target: plan.target, modules: plan.modules, from: location, into: cache, seconds: seconds), nil)
        }
    }

    /// Tries each shared location in turn with `fetch` until one adopts an
    /// entry (see ``fetchFromSharedCaches(_:plan:into:)`` for the
    /// messages, counters and time budget).
    /// - Parameters:
    ///   - build: how messages name what is looked up.
    ///   - afterLast: what happens when the last location fails, as messages say it.
    ///   - refusals: when given, refused entries are added to it instead
    ///     of being printed, for a caller that prints them when another
    ///     location serves the build and says them in its error otherwise.
    func fetchFromSharedCaches(
        build: String, afterLast: String, into cache: LocalCache, refusals: SharedCacheRefusals? = nil,
        _ fetch: (SharedCacheFetcher, SharedCacheLocation, Int) async -> (SharedCacheFetcher.Outcome, FleetLookupRecord?)
    ) async -> (entry: CacheEntry, record: FleetLookupRecord?, location: SharedCacheLocation)? {
        let locations = settings.buildCacheShared.map(SharedCacheLocation.init)
        guard !locations.isEmpty else { return nil }
        let fetcher = SharedCacheFetcher(trusted: TrustedKeys(directory: trustedKeysDirectory), runner: engine.runner,
                                         environment: settings.environment)
        var ledger = engine.shared.sharedCacheLedger ?? SharedCacheLedger(budget: settings.buildCacheSharedBudget)
        defer { engine.shared.sharedCacheLedger = ledger }
        for (index, location) in locations.enumerated() {
            let next = index == locations.count - 1 ? afterLast : "trying the next shared cache"
            guard ledger.failure(of: location) == nil else { continue }
            let seconds = ledger.secondsLeft(for: location)
            let started = ContinuousClock.now
            let (outcome, record): (SharedCacheFetcher.Outcome, FleetLookupRecord?) = seconds > 0
                ? await fetch(fetcher, location, seconds)
                : (.unreadable("it used its \(ledger.budget) s of build_cache_shared_budget"), nil)
            ledger.record(started.duration(to: .now), for: location)
            switch outcome {
            case .absent:
                continue
            case .unreadable(let reason):
                ledger.fail(location, because: reason)
                console.errorLine("dkms: the shared cache \(location) could not be read for \(build) (\(reason));"
                                  + " it is not used again by this command; \(next).")
            case .refused(let refusal):
                let line = "dkms: \(build) from the shared cache \(location) refused: \(refusal); \(next)."
                if let refusals {
                    refusals.reasons.append("\(location): \(refusal)")
                    refusals.lines.append(line)
                } else {
                    console.errorLine(line)
                }
                cache.count(["refused": 1])
            case .adopted(let entry):
                cache.count(["fetched": 1])
                transaction.fetchedIntoCache = true
                return (entry, record, location)
            }
        }
        return nil
    }

    /// `dkms cache export DIRECTORY`: every local entry, signed with the
    /// fleet key, into a directory any static web server can serve.
    func exportCache(to directory: String) async throws(DKMSError) -> Int32 {
        let keyFile = signingKeyFile
        guard let text = engine.fileSystem.readText(keyFile), let key = FleetSigningKey(pem: text) else {
            throw DKMSError(.notPermittedOrMissingArguments,
                            "The fleet signing key \(keyFile) is missing or is not an Ed25519 private key.",
                            "Make one with 'dkms cache keygen \(keyFile.hasSuffix(".key") ? String(keyFile.dropLast(4)) : keyFile)'"
                                + " or name yours with build_cache_signing_key in framework.conf.")
        }
        // made first, then checked: a directory another user planted before
        // it was made is theirs, and refused
        engine.fileSystem.makeDirectories(directory)
        if let problem = ExportDirectoryTrust(fileSystem: engine.fileSystem).problem(directory) {
            throw DKMSError(.notPermittedOrMissingArguments, "Refusing to export to \(directory): \(problem).",
                            "dkms writes there as root: export to a directory that only root can change, and let the web server read it.")
        }
        let exporter = CacheExporter(directory: directory, signingKey: key, fileSystem: engine.fileSystem)
        let cache = BuildCacheLookup(engine: engine).localCache
        guard let report = exporter.export(cache.entries(), records: cache.records()) else {
            throw DKMSError(.notPermittedOrMissingArguments, "Unable to create \(exporter.entriesDirectory).")
        }
        for (damaged, refusal) in report.damaged {
            console.errorLine("dkms: the cached build \(damaged.short) is damaged (\(refusal)); it is not exported.")
        }
        console.line("Exported \(report.written.count + report.unchanged.count) cached build(s) to \(directory)"
                     + " (\(report.written.count) written, \(report.unchanged.count) already there), signed with key \(key.publicKey.id).")
        if report.lookups > 0 {
            console.line("Published \(report.lookups) fleet lookup(s) by kernel identity, for clients without kernel headers.")
        }
        guard report.failed.isEmpty, report.failedLookups.isEmpty, report.indexWritten else {
            let what = report.failed.map(\.short) + report.failedLookups.map { "lookup \($0.short)" }
                + (report.indexWritten ? [] : ["the index"])
            throw DKMSError(.notPermittedOrMissingArguments, "Unable to write \(what.joined(separator: ", ")) in \(directory).")
        }
        return 0
    }

    /// `dkms cache keygen NAME`: a new fleet key pair, NAME.key (the
    /// private key, mode 0600) and NAME.pub. Neither file may exist yet
    /// (not even as a link): a key is never replaced, a trusted public key
    /// is never overwritten, and no link planted at NAME.pub is followed.
    func generateFleetKey(named name: String) async throws(DKMSError) -> Int32 {
        let privateFile = name + ".key"
        let publicFile = name + ".pub"
        for file in [privateFile, publicFile] where engine.fileSystem.existsNoFollow(file) {
            throw DKMSError(.notPermittedOrMissingArguments, "\(file) already exists; dkms cache keygen does not replace a key.")
        }
        let key = FleetSigningKey()
        // Created, never opened over something there: a link or file planted
        // after the check above makes the creation fail instead.
        guard engine.fileSystem.createNewFile(Array(key.pem.utf8), at: privateFile, mode: 0o600) else {
            throw DKMSError(.notPermittedOrMissingArguments, "Unable to write \(privateFile) and \(publicFile).")
        }
        guard engine.fileSystem.createNewFile(Array(key.publicKey.pem.utf8), at: publicFile, mode: 0o644) else {
            engine.fileSystem.removeFile(privateFile)
            throw DKMSError(.notPermittedOrMissingArguments, "Unable to write \(privateFile) and \(publicFile).")
        }
        console.line("Fleet key \(key.publicKey.id): private key \(privateFile), public key \(publicFile).")
        console.line("Clients trust it when \(publicFile) is in their \(trustedKeysDirectory).")
        return 0
    }
}

/// The shared entries refused while one build was looked up, kept for a
/// caller that says them in its own error (a kernel without headers has
/// no local build to fall back on: one line says what was refused and
/// what to install).
final class SharedCacheRefusals {
    /// `LOCATION: REASON`, in the order of the locations (for an error).
    var reasons: [String] = []
    /// The warnings the refusals would have printed (when the build is
    /// found elsewhere).
    var lines: [String] = []
}
