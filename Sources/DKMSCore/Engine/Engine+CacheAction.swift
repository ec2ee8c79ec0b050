/// `dkms cache …` (not in upstream): seeing and managing the module cache.
extension Engine {
    /// The usage of `dkms cache`.
    static let cacheUsage = "Usage: dkms cache list | stats | prune [SIZE] | export DIRECTORY | keygen NAME"

    /// Whether a `cache` subcommand only reads (it does not wait for the tree lock).
    static func cacheReadsOnly(_ arguments: [String]) -> Bool {
        ["list", "stats"].contains(arguments.first ?? "")
    }

    /// Runs `dkms cache SUBCOMMAND`.
    /// - Returns: the exit status.
    func cacheAction(_ arguments: [String]) async throws(DKMSError) -> Int32 {
        let cache = localCache
        switch (arguments.first, arguments.count) {
        case ("list", 1):
            for entry in cache.entries() {
                let manifest = entry.manifest
                let target = manifest.target
                console.line("\(manifest.key.short)  \(target.module)/\(target.version), \(target.kernel), \(target.arch)  "
                             + "\(Self.sizeText(manifest.size))  built \(Self.dateText(manifest.created))  used \(Self.dateText(entry.lastUsed))")
            }
            return 0
        case ("stats", 1):
            let entries = cache.entries()
            let counters = cache.counters()
            let hits = counters["hits"] ?? 0
            let misses = counters["misses"] ?? 0
            console.line("cache: \(cache.root)\(settings.buildCache ? "" : " (build_cache=no: not used)")")
            console.line("entries: \(entries.count)")
            console.line("size: \(Self.sizeText(entries.reduce(0) { $0 + $1.manifest.size })) of \(Self.sizeText(settings.buildCacheSize))")
            console.line("hits: \(hits)")
            console.line("misses: \(misses)")
            if hits + misses > 0 { console.line("hit rate: \(hits * 100 / (hits + misses))%") }
            for name in ["stored", "evicted", "fetched", "refused"] { console.line("\(name): \(counters[name] ?? 0)") }
            for location in settings.buildCacheShared { console.line("shared: \(location)") }
            return 0
        case ("prune", 1), ("prune", 2):
            try requireRoot()
            var limit = settings.buildCacheSize
            if arguments.count == 2 {
                guard let size = Settings.byteCount(arguments[1]) else {
                    throw DKMSError(.notPermittedOrMissingArguments, "Invalid cache size '\(arguments[1])': give bytes or a number with K, M or G.")
                }
                limit = size
            }
            let removed = cache.evict(toAtMost: limit)
            cache.count(["evicted": removed.count].filter { $0.value > 0 })
            console.line("Removed \(removed.count) cached build(s), \(Self.sizeText(removed.reduce(0) { $0 + $1.manifest.size })).")
            return 0
        case ("export", 2):
            try requireRoot()
            return try await exportCache(to: arguments[1])
        case ("keygen", 2):
            return try await generateFleetKey(named: arguments[1])
        default:
            throw DKMSError(.notPermittedOrMissingArguments, Self.cacheUsage)
        }
    }

    /// The cache's figures for `status --json`.
    func cacheReport() -> CacheReport {
        let cache = localCache
        let entries = cache.entries()
        return CacheReport(enabled: settings.buildCache, entries: entries.count,
                           size: entries.reduce(0) { $0 + $1.manifest.size }, counters: cache.counters())
    }

    /// A size in bytes as people read it (`12.3 MiB`).
    static func sizeText(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }
}
