/// How a planned build meets the module cache.
struct CacheUse: Sendable {
    /// The build's key (nil: the cache is not used for it).
    var key: CacheKey?
    /// A verified entry holding the build's modules: the build is a hit.
    var entry: CacheEntry?
    /// Where the entry came from, as messages say (`the local cache`, a shared location).
    var origin = "the local cache"
    /// The shared location it was fetched from by this command.
    var sharedLocation: String?
    /// It was found by the kernel's identity (a kernel without headers here).
    var foundByIdentity = false
    /// The build's fleet lookup record, kept with the entry so that `cache
    /// export` publishes it (nil: the kernel's identity is not known).
    var lookupRecord: FleetLookupRecord?
}

struct BuildCacheLookup: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// The module cache of this tree.
    var localCache: LocalCache { LocalCache(root: engine.tree.cacheDirectory, fileSystem: engine.fileSystem) }

    /// Whether builds of a module use the cache: `build_cache` is on, the
    /// command did not say `--no-cache` or `--force`, and the admin has not
    /// opted the module out (`BUILD_CACHE=no` in /etc/dkms/MODULE.conf).
    /// - Returns: whether to look up, and whether to store.
    func cachePolicy(module: String) async -> (lookUp: Bool, store: Bool) {
        guard settings.buildCache, await BuildStep(engine: engine).adminChoices(module: module).cache else { return (false, false) }
        return (!settings.noCache && !engine.scope.force, true)
    }

    /// Computes a plan's key and looks it up: in the local cache, then in
    /// the shared locations of `build_cache_shared`. A damaged or refused
    /// entry is a miss (with a warning on standard error), never an error.
    func useCache(for plan: BuildPlan) async -> CacheUse {
        let policy = await cachePolicy(module: plan.target.module)
        guard policy.store else { return CacheUse() }
        let identity = await kernels.headersIdentity(kernel: plan.target.kernel, arch: plan.target.arch, environment: plan.environment)
        let material = CacheKeyMaterial(plan: plan, kernel: identity, files: TreeDigest(), inherited: settings.environment)
        let key = CacheKey(material)
        var use = CacheUse(key: key)
        if case .success(let build) = kernels.buildIdentityFromHeaders(kernel: plan.target.kernel, arch: plan.target.arch) {
            let lookup = FleetLookupKey(material, kernel: build, compilerChoice: plan.compilerChoice)
            use.lookupRecord = FleetLookupRecord(lookup: lookup, target: plan.target, kernel: build, entry: key)
        }
        guard policy.lookUp else { return use }
        let cache = localCache
        let modules = plan.modules.map(\.destName)
        switch cache.lookup(key, modules: modules) {
        case .success(let entry)?:
            use.entry = entry
        case .failure(let refusal)?:
            console.errorLine("dkms: the cached build \(key.short) of \(plan.target) is damaged (\(refusal)); it is removed and the module is built.")
        case nil:
            if let found = await SharedCacheSteps(engine: engine).fetchFromSharedCaches(key, plan: plan, into: cache) {
                use.entry = found.entry
                use.origin = "a shared cache"
                use.sharedLocation = found.location.address
            }
        }
        if let entry = use.entry {
            cache.markUsed(entry.manifest.key)
            if let record = use.lookupRecord { cache.record(record) }
        }
        cache.count([use.entry == nil ? "misses" : "hits": 1])
        return use
    }

    /// Records where the modules of a build came from (`status --json`):
    /// `cache KEY` for a hit, `built KEY` for a build the cache stored,
    /// `built` for a build without the cache.
    func recordCacheOrigin(of target: BuildPlan.Target, use: CacheUse) {
        let record = engine.tree.cacheRecord(target.module, target.version, target.kernel, target.arch)
        guard engine.fileSystem.makeDirectories(FileSystem.split(record).directory) else { return }
        let origin = BuildOrigin(fromCache: use.entry != nil, key: use.key?.hex, sharedLocation: use.sharedLocation,
                                 lookup: use.foundByIdentity ? use.lookupRecord?.lookup.hex : nil)
        engine.fileSystem.writeText(origin.record, to: record)
    }

    /// `origin: M/V, K, A: …` for every built module version whose build
    /// recorded where its modules came from (`dkms cache stats`).
    func buildOriginLines() -> [String] {
        engine.tree.status().compactMap { record in
            guard case .built(let m, let v, let k, let a, _) = record,
                  let origin = BuildOrigin(record: engine.fileSystem.readText(engine.tree.cacheRecord(m, v, k, a))) else { return nil }
            return "origin: \(m)/\(v), \(k), \(a): \(origin.shown)"
        }
    }
}
