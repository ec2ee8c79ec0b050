/// One command's change to the trees, from taking the tree lock to what
/// follows the change: the lock itself (held until the process ends),
/// what was installed when the change began (so that its end regenerates
/// the initramfs images it made stale and explains Secure Boot for new
/// modules), and when depmod runs (``DepmodSchedule``).
final class Transaction {
    /// The tree lock, once taken or (``nested``) joined; nil while neither.
    var lock: TreeLock?
    /// Whether a parent dkms holds the lock and owns the transaction (this
    /// command is nested in it: ``InheritedLock``).
    var nested = false
    /// The initramfs facts of the installed modules when the change began
    /// (nil: the initramfs is not watched).
    var initramfsBaseline: Set<InstalledModuleFacts>?
    /// `m/v/k/a` of the modules installed when the change began (nil: not watched).
    var installedBaseline: Set<String>?
    /// When depmod runs for the kernels changed.
    var depmod = DepmodSchedule()
    /// Whether a build was fetched from a shared cache into the local one:
    /// the local cache is then kept within `build_cache_size` when the
    /// command ends (not at once: the command still copies from the entry).
    var fetchedIntoCache = false

    /// No change under way yet.
    init() {}
}

/// When a command runs depmod for the kernels it changes: upstream runs
/// it after each change (`do_depmod`), the kernel hooks that unbuild
/// leave a marker and run it once at their end (`delayed_depmod`), and
/// (not in upstream) an autoinstall runs it once per kernel at its end
/// unless `--verbose` asks for upstream's order.
struct DepmodSchedule: Equatable {
    /// The three timings.
    enum Timing: Equatable {
        /// After each change, as upstream.
        case afterEachChange
        /// Once per kernel when the command's work is done.
        case oncePerKernelAtEnd
        /// A `depmod-pending-K-A` marker per change, resolved by the hook.
        case byMarker
    }

    /// The timing in force.
    private(set) var timing = Timing.afterEachChange
    /// Kernels whose depmod waits for the end.
    private(set) var pending: Set<String> = []

    /// From now on, depmod waits for the end of the command's work.
    mutating func deferToEnd() {
        timing = .oncePerKernelAtEnd
        pending = []
    }

    /// From now on, changes leave markers (until ``resume()``).
    mutating func deferByMarker() {
        timing = .byMarker
    }

    /// Back to upstream's timing; the kernels still waiting are returned
    /// in order, for the caller to run depmod for now.
    mutating func resume() -> [String] {
        defer {
            timing = .afterEachChange
            pending = []
        }
        return pending.sorted()
    }

    /// Whether depmod for `kernel` runs now; when it waits for the end,
    /// the kernel is remembered.
    mutating func runsNow(for kernel: String) -> Bool {
        guard timing == .oncePerKernelAtEnd else { return true }
        pending.insert(kernel)
        return false
    }
}
