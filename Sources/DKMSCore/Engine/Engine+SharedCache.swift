/// Shared module caches for fleets: exporting signed entries and
/// fetching trusted ones (see docs/cache.md).
extension Engine {
    /// Looks a key up in the shared locations and adopts a trusted,
    /// intact entry into the local cache (nil: none has it, or none is
    /// trusted).
    func fetchFromSharedCaches(_ key: CacheKey, plan: BuildPlan, into cache: LocalCache) async -> CacheEntry? {
        nil
    }

    /// `dkms cache export DIRECTORY`.
    func exportCache(to directory: String) async throws(DKMSError) -> Int32 {
        throw DKMSError(.notPermittedOrMissingArguments, "dkms cache export is not implemented yet.")
    }

    /// `dkms cache keygen NAME`.
    func generateFleetKey(named name: String) async throws(DKMSError) -> Int32 {
        throw DKMSError(.notPermittedOrMissingArguments, "dkms cache keygen is not implemented yet.")
    }
}
