/// Installing modules on a machine without the kernel's headers: each
/// build is looked up in the shared caches by the kernel's identity (read
/// from `/boot`) and taken from there, never built (see docs/fleet.md).
/// Without `build_cache_shared`, or with the headers installed, nothing
/// here applies and dkms behaves as upstream's.
struct FleetAdoption: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// Upstream's headers check, except that a kernel whose modules can
    /// come from the fleet needs none.
    func requireKernelHeadersOrFleet(_ kernel: String, arch: String) throws(DKMSError) {
        switch kernels.fleetIdentity(kernel: kernel, arch: arch) {
        case .success?:
            return
        case .failure(let problem)?:
            do {
                try engine.requireKernelHeaders(kernel)
            } catch {
                throw DKMSError(code: error.code, lines: error.lines + [
                    "The shared module caches cannot stand in for them: the kernel's identity is unknown (\(problem)).",
                ], presentation: error.presentation)
            }
        case nil:
            try engine.requireKernelHeaders(kernel)
        }
    }

    /// Finds a plan's build by the kernel's identity: in the local cache
    /// (a build adopted before), then in each shared location, checked as
    /// every shared entry is (trusted signature, digests, modules present,
    /// vermagic of this kernel).
    /// - Throws: ``DKMSError`` 21 with one line saying what is missing (and
    ///   which shared entries were refused, and why) and what to do, when no
    ///   location has a usable build.
    func adoptFromFleet(_ plan: BuildPlan, kernel identity: KernelBuildIdentity) async throws(DKMSError) -> CacheUse {
        let target = plan.target
        let headers = "linux-headers-\(target.kernel)"
        guard await BuildCacheLookup(engine: engine).cachePolicy(module: target.module).store else {
            throw DKMSError(.missingKernelHeaders, "\(target.module)/\(target.version) cannot come from the shared module caches"
                            + " (BUILD_CACHE=no in \(engine.etcDirectory)/\(target.module).conf) and kernel \(target.kernel) has no headers"
                            + " here: install \(headers) to build it here.")
        }
        let placeholder = KernelIdentity(release: target.kernel, arch: target.arch, configDigest: "-", symversDigest: "-", compiler: "-")
        let material = CacheKeyMaterial(plan: plan, kernel: placeholder, files: TreeDigest(), inherited: settings.environment)
        let lookup = FleetLookupKey(material, kernel: identity, compilerChoice: plan.compilerChoice)
        let cache = BuildCacheLookup(engine: engine).localCache
        let modules = plan.modules.map(\.destName)
        var use = CacheUse()
        if let record = cache.record(for: lookup), record.answers(lookup, target: target, kernel: identity) {
            switch cache.lookup(record.entry, modules: modules) {
            case .success(let entry)?:
                use = CacheUse(key: record.entry, entry: entry, origin: "the local cache", foundByIdentity: true, lookupRecord: record)
            case .failure(let refusal)?:
                console.errorLine("dkms: the cached build \(record.entry.short) of \(target) is damaged (\(refusal)); it is removed.")
            case nil:
                break
            }
        }
        let refusals = SharedCacheRefusals()
        if use.entry == nil, let found = await SharedCacheSteps(engine: engine).fetchFromSharedCaches(
            build: "the build of \(target) (kernel \(identity.banner), lookup \(lookup.short))",
            afterLast: "no build is left to try", into: cache, refusals: refusals, { fetcher, location, seconds in
                await fetcher.fetch(lookup: lookup, kernel: identity, target: target, modules: plan.modules,
                                    from: location, into: cache, seconds: seconds)
            }), let record = found.record {
            cache.record(record)
            use = CacheUse(key: record.entry, entry: found.entry, origin: "the shared cache \(found.location)",
                           sharedLocation: found.location.address, foundByIdentity: true, lookupRecord: record)
        }
        if use.entry != nil {
            // Found at a later location: the refusals before it are warnings, as for any shared entry.
            for line in refusals.lines { console.errorLine(line) }
        }
        guard let entry = use.entry else {
            cache.count(["misses": 1])
            // One line: what was refused (if anything) belongs to the error.
            let refused = refusals.reasons.isEmpty ? ""
                : " (refused: " + refusals.reasons.joined(separator: "; ") + ")"
            throw DKMSError(.missingKernelHeaders, "No build of \(target.module)/\(target.version) for kernel \(target.kernel)"
                            + " (\(identity.banner), \(target.arch)) in the shared module caches\(refused), and no kernel headers to build it:"
                            + " install \(headers) to build it here.")
        }
        cache.markUsed(entry.manifest.key)
        cache.count(["hits": 1])
        console.line("Kernel \(target.kernel) has no headers here: \(target.module)/\(target.version) comes from \(use.origin)"
                     + " (entry \(entry.manifest.key.short), found by the kernel's identity, \(identity.banner)).")
        return use
    }
}
