#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The limits every sandboxed build runs under, from framework.conf:
/// `build_time_limit` (seconds for the whole build), `build_max_processes`
/// (processes at once in the build) and `build_max_memory` (resident
/// memory of all the build's processes together). `0` turns a limit off.
///
/// The defaults are far above what the real modules of the corpus use
/// (docs/sandbox.md has the measurements), so that only a runaway build
/// meets them.
package struct BuildLimits: Sendable, Hashable {
    /// Seconds the whole build (patches, PRE_BUILD, make, POST_BUILD) may take; 0: none.
    package var timeSeconds: Int
    /// Processes the build may run at once; 0: none.
    package var maxProcesses: Int
    /// Bytes of resident memory the build's processes may hold together; 0: none.
    package var maxMemory: Int

    /// `build_time_limit` when framework.conf does not set it: two hours.
    package static let defaultTimeSeconds = 7200
    /// `build_max_processes` when framework.conf does not set it.
    package static let defaultMaxProcesses = 2048
    /// `build_max_memory` when framework.conf does not set it: half of
    /// the machine's memory, at least 2 GiB.
    package static var defaultMaxMemory: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return 4 << 30 }
        return max(2 << 30, pages * size / 2)
    }

    /// Creates limits.
    package init(timeSeconds: Int = BuildLimits.defaultTimeSeconds, maxProcesses: Int = BuildLimits.defaultMaxProcesses,
                 maxMemory: Int = BuildLimits.defaultMaxMemory) {
        self.timeSeconds = timeSeconds
        self.maxProcesses = maxProcesses
        self.maxMemory = maxMemory
    }

    /// One of the limits.
    package enum Kind: String, Sendable, Hashable, CaseIterable {
        /// `build_time_limit`.
        case time = "build_time_limit"
        /// `build_max_processes`.
        case processes = "build_max_processes"
        /// `build_max_memory`.
        case memory = "build_max_memory"

        /// The largest value a setting may have (larger ones are refused
        /// like any invalid value): a year of seconds, Linux's highest pid
        /// count, a pebibyte. Every figure derived from a limit (the kernel
        /// backstops at twice it, deadlines in nanoseconds) stays far
        /// within 64 bits.
        package var maximum: Int {
            switch self {
            case .time: 365 * 24 * 3600
            case .processes: 1 << 22
            case .memory: 1 << 50
            }
        }
    }

    /// The value of a framework.conf setting: a number of seconds
    /// (`90`, `30m`, `2h`) for the time, a count for processes, a size
    /// (`512M`, `4G`, `50%` of the machine's memory) for memory. nil when
    /// the text is none of these; empty text is nil too (the default).
    package static func parse(_ text: String, as kind: Kind, physicalMemory: Int? = nil) -> Int? {
        guard let value = unbounded(text, as: kind, physicalMemory: physicalMemory), value <= kind.maximum else { return nil }
        return value
    }

    /// ``parse(_:as:physicalMemory:)`` before the range check.
    private static func unbounded(_ text: String, as kind: Kind, physicalMemory: Int?) -> Int? {
        let text = text.trimmingBlanks()
        guard !text.isEmpty else { return nil }
        switch kind {
        case .time:
            var digits = Substring(text)
            var unit = 1
            if let last = digits.last, let factor = ["s": 1, "m": 60, "h": 3600][String(last).lowercased()] {
                unit = factor
                digits = digits.dropLast()
            }
            guard let number = Int(digits), number >= 0, !number.multipliedReportingOverflow(by: unit).overflow else { return nil }
            return number * unit
        case .processes:
            guard let number = Int(text), number >= 0 else { return nil }
            return number
        case .memory:
            if text.hasSuffix("%") {
                guard let percent = Int(text.dropLast()), (0...100).contains(percent) else { return nil }
                let total = physicalMemory ?? {
                    let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
                    return pages > 0 && size > 0 ? pages * size : 0
                }()
                return total * percent / 100
            }
            return Settings.byteCount(text)
        }
    }

    /// The value of `kind`.
    package subscript(kind: Kind) -> Int {
        switch kind {
        case .time: timeSeconds
        case .processes: maxProcesses
        case .memory: maxMemory
        }
    }

    /// How a limit reads in messages: `build_time_limit=600 seconds`.
    package func describe(_ kind: Kind) -> String {
        switch kind {
        case .time: "\(kind.rawValue)=\(timeSeconds) seconds"
        case .processes: "\(kind.rawValue)=\(maxProcesses) processes"
        case .memory: "\(kind.rawValue)=\(Self.sizeText(maxMemory))"
        }
    }

    /// `512M`, `3G`, or bytes.
    static func sizeText(_ bytes: Int) -> String {
        for (suffix, shift) in [("G", 30), ("M", 20), ("K", 10)] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(suffix)"
        }
        return "\(bytes) bytes"
    }

    /// The error of a build stopped at a limit (exit 10, as any failed
    /// build): it names the limit, the module and the kept log.
    package func exceeded(_ kind: Kind, target: BuildPlan.Target, log: String) -> DKMSError {
        let what: String
        switch kind {
        case .time: what = "ran longer than its time limit"
        case .processes: what = "ran more processes at once than its process limit"
        case .memory: what = "used more memory than its memory limit"
        }
        return DKMSError(.buildFailed, "The build of \(target.module)/\(target.version) for kernel \(target.kernel) (\(target.arch)) \(what) (\(describe(kind))) and was stopped.",
                         "Raise \(kind.rawValue) in /etc/dkms/framework.conf if the module needs more.",
                         "Consult \(log) for more information.")
    }
}
