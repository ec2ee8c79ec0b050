/// What the shared cache locations did in one command: the time each
/// has taken, and those that failed (unreachable, silent, too slow, too
/// large, out of time), which the command does not try again. Owned by the
/// command's engine; a new command starts with a clean ledger.
package struct SharedCacheLedger: Sendable {
    /// The default of `build_cache_shared_budget`, in seconds.
    package static let defaultBudget = 30

    /// How long one location may take in the command, in seconds.
    package var budget: Int
    /// Seconds each location has taken, by address.
    private var spent: [String: Duration] = [:]
    /// Why each failed location failed, by address.
    private var failures: [String: String] = [:]

    /// A ledger of nothing done yet.
    package init(budget: Int = Self.defaultBudget) {
        self.budget = budget
    }

    /// Why a location is no longer used in this command, if it is not.
    package func failure(of location: SharedCacheLocation) -> String? {
        failures[location.address]
    }

    /// Whole seconds the location has left, rounded up (0 when its budget is spent).
    package func secondsLeft(for location: SharedCacheLocation) -> Int {
        Self.wholeSeconds(.seconds(budget) - (spent[location.address] ?? .zero))
    }

    /// A duration in whole seconds, rounded up; 0 when it is not positive.
    package static func wholeSeconds(_ duration: Duration) -> Int {
        guard duration > .zero else { return 0 }
        let (seconds, attoseconds) = duration.components
        return CacheNumber.sum(Int(clamping: seconds), attoseconds > 0 ? 1 : 0)
    }

    /// Adds time taken by a location.
    package mutating func record(_ time: Duration, for location: SharedCacheLocation) {
        spent[location.address, default: .zero] += time
    }

    /// Marks a location failed for the rest of the command.
    package mutating func fail(_ location: SharedCacheLocation, because reason: String) {
        failures[location.address] = failures[location.address] ?? reason
    }
}
