/// What `dkms cache list` and `dkms cache stats` print, from the cache
/// alone: a value with no engine behind it.
package struct CacheReportText: Sendable {
    /// The cache.
    package var cache: LocalCache
    /// `build_cache`.
    package var enabled: Bool
    /// `build_cache_size`.
    package var limit: Int
    /// `build_cache_shared`.
    package var shared: [String]

    /// Creates the views of a cache.
    package init(cache: LocalCache, enabled: Bool, limit: Int, shared: [String]) {
        self.cache = cache
        self.enabled = enabled
        self.limit = limit
        self.shared = shared
    }

    /// One line per entry, most recently used first: short key,
    /// `module/version, kernel, arch`, size, when built and last used.
    package func list() -> [String] {
        cache.entries().map { entry in
            let manifest = entry.manifest
            let target = manifest.target
            return "\(manifest.key.short)  \(target.module)/\(target.version), \(target.kernel), \(target.arch)  "
                + "\(Self.sizeText(manifest.size))  built \(DateText.date(manifest.created))  used \(DateText.date(entry.lastUsed))"
        }
    }

    /// `name: value` lines: the directory, entries, size against the
    /// bound, the counters and hit rate, the shared locations.
    package func stats() -> [String] {
        let entries = cache.entries()
        let counters = cache.counters()
        let hits = counters["hits"] ?? 0
        let misses = counters["misses"] ?? 0
        var lines = [
            "cache: \(cache.root)\(enabled ? "" : " (build_cache=no: not used)")",
            "entries: \(entries.count)",
            "size: \(Self.sizeText(entries.totalSize)) of \(Self.sizeText(limit))",
            "hits: \(hits)",
            "misses: \(misses)",
        ]
        if let rate = CacheNumber.percent(hits, misses) { lines.append("hit rate: \(rate)%") }
        lines += ["stored", "evicted", "fetched", "refused"].map { "\($0): \(counters[$0] ?? 0)" }
        lines += shared.map { "shared: \($0)" }
        return lines
    }

    /// The figures `status --json` reports.
    package func report() -> CacheReport {
        let entries = cache.entries()
        return CacheReport(enabled: enabled, entries: entries.count,
                           size: entries.totalSize, counters: cache.counters())
    }

    /// A size in bytes as people read it (`12.3 MiB`).
    package static func sizeText(_ bytes: Int) -> String {
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
