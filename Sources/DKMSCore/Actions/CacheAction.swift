/// `dkms cache …` (not in upstream): seeing and managing the module cache.
package struct CacheAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {}

    func run() async throws(DKMSError) -> RunResult {
        .exit(try await cacheAction(engine.settings.actionArguments))
    }


    /// The usage of `dkms cache`.
    static let cacheUsage = "Usage: dkms cache list | stats | locations | prune [SIZE] | export DIRECTORY | keygen NAME"

    /// The subcommands of `dkms cache` (the completions offer them).
    package static let cacheSubcommands = ["list", "stats", "locations", "prune", "export", "keygen"]

    /// Whether a `cache` subcommand only reads (it does not wait for the tree lock).
    static func cacheReadsOnly(_ arguments: [String]) -> Bool {
        ["list", "stats", "locations"].contains(arguments.first ?? "")
    }

    /// The cache's views, with this invocation's settings.
    var cacheReportText: CacheReportText {
        CacheReportText(cache: BuildCacheLookup(engine: engine).localCache, enabled: engine.settings.buildCache, limit: engine.settings.buildCacheSize, shared: engine.settings.buildCacheShared)
    }

    /// Runs `dkms cache SUBCOMMAND`.
    /// - Returns: the exit status.
    func cacheAction(_ arguments: [String]) async throws(DKMSError) -> Int32 {
        switch (arguments.first, arguments.count) {
        case ("list", 1):
            cacheReportText.list().forEach { console.line($0) }
        case ("stats", 1):
            (cacheReportText.stats() + BuildCacheLookup(engine: engine).buildOriginLines()).forEach { console.line($0) }
        case ("locations", 1):
            return cacheLocationsAction()
        case ("prune", 1), ("prune", 2):
            try engine.requireRoot()
            var limit = engine.settings.buildCacheSize
            if arguments.count == 2 {
                guard let size = Settings.byteCount(arguments[1]) else {
                    throw DKMSError(.notPermittedOrMissingArguments, "Invalid cache size '\(arguments[1])': give bytes or a number with K, M or G.")
                }
                limit = size
            }
            let removed = BuildCacheLookup(engine: engine).localCache.evict(toAtMost: limit)
            BuildCacheLookup(engine: engine).localCache.count(["evicted": removed.count].filter { $0.value > 0 })
            console.line("Removed \(removed.count) cached build(s), \(CacheReportText.sizeText(removed.totalSize)).")
        case ("export", 2):
            try engine.requireRoot()
            return try await SharedCacheSteps(engine: engine).exportCache(to: arguments[1])
        case ("keygen", 2):
            return try await SharedCacheSteps(engine: engine).generateFleetKey(named: arguments[1])
        default:
            throw DKMSError(.notPermittedOrMissingArguments, Self.cacheUsage)
        }
        return 0
    }
}
