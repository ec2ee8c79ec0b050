/// `dkms cache locations` (not in upstream): whether a kernel without
/// headers can get its modules from the fleet, for the kernel hooks and
/// `common.postinst` to ask before they skip such a kernel.
extension CacheAction {
    /// The shared caches builds can be fetched from: `build_cache_shared`
    /// in order, or none when `build_cache` turns the module cache off
    /// (then nothing is looked up, shared or local).
    var fetchableSharedLocations: [String] {
        engine.settings.buildCache ? engine.settings.buildCacheShared : []
    }

    /// Runs `dkms cache locations`: prints each location on its own line.
    /// - Returns: 0 when there is at least one, 1 (having printed
    ///   nothing) when there is none.
    func cacheLocationsAction() -> Int32 {
        let locations = fetchableSharedLocations
        locations.forEach { engine.console.line($0) }
        return locations.isEmpty ? 1 : 0
    }
}
