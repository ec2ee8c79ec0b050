/// A module version autoinstall may install, with its BUILD_DEPENDS.
struct AutoinstallCandidate: Sendable, Equatable {
    /// The module.
    var module: String
    /// Its newest version.
    var version: String
    /// BUILD_DEPENDS, as words.
    var dependencies: [String]
}

/// The order of an autoinstall: which module versions it considers and
/// which of them may build at once. Both `autoinstall` and `--dry-run`
/// use it, so a plan cannot drift from what runs.
enum AutoinstallScheduler {
    /// The newest version of every module of the tree, in the tree's
    /// order, and the broken module versions (which are left out).
    static func newestVersions(_ records: [ModuleStatusRecord]) -> (versions: [(module: String, version: String)], broken: [(module: String, version: String)]) {
        var order: [String] = []
        var latest: [String: String] = [:]
        var broken: [(String, String)] = []
        for record in records {
            if case .broken(let m, let v) = record {
                broken.append((m, v))
                continue
            }
            if let current = latest[record.module] {
                if VersionKey(record.version) > VersionKey(current) { latest[record.module] = record.version }
            } else {
                order.append(record.module)
                latest[record.module] = record.version
            }
        }
        return (order.map { ($0, latest[$0] ?? "") }, broken)
    }

    /// The candidates that may build now: those whose BUILD_DEPENDS are
    /// all `satisfied` (installed or skipped), in queue order; and the rest.
    static func nextWave(_ queue: [AutoinstallCandidate], satisfied: Set<String>)
        -> (ready: [AutoinstallCandidate], waiting: [AutoinstallCandidate]) {
        var ready: [AutoinstallCandidate] = []
        var waiting: [AutoinstallCandidate] = []
        for candidate in queue {
            if candidate.dependencies.allSatisfy(satisfied.contains) { ready.append(candidate) } else { waiting.append(candidate) }
        }
        return (ready, waiting)
    }

    /// Every wave when each module succeeds (what `--dry-run` shows), and
    /// the candidates whose dependencies never become satisfied.
    static func waves(_ queue: [AutoinstallCandidate], satisfied: Set<String>)
        -> (waves: [[AutoinstallCandidate]], unresolved: [AutoinstallCandidate]) {
        var waves: [[AutoinstallCandidate]] = []
        var satisfied = satisfied
        var queue = queue
        while true {
            let (ready, waiting) = nextWave(queue, satisfied: satisfied)
            guard !ready.isEmpty else { return (waves, queue) }
            waves.append(ready)
            satisfied.formUnion(ready.map(\.module))
            queue = waiting
        }
    }
}
