#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Everything one dkms invocation works with: framework.conf values,
/// then the command line on top of them (the CLI fills it in, in
/// upstream's order).
package struct Settings: Sendable {
    // Framework (and command-line) values.
    /// `dkms_tree` (`/var/lib/dkms`).
    package var dkmsTree = "/var/lib/dkms"
    /// `source_tree` (`/usr/src`).
    package var sourceTree = "/usr/src"
    /// `install_tree` (`/lib/modules`).
    package var installTree = "/lib/modules"
    /// `tmp_location` (`$TMPDIR` or `/tmp`).
    package var tmpLocation = "/tmp"
    /// `verbose`: echo commands instead of progress text.
    package var verbose = false
    /// `symlink_modules`: install symlinks instead of copies.
    package var symlinkModules = false
    /// `autoinstall_all_kernels` (used by common.postinst).
    package var autoinstallAllKernels = ""
    /// `modprobe_on_install`.
    package var modprobeOnInstall = false
    /// `parallel_jobs`: the `-j` value for make; empty means unlimited.
    package var parallelJobs = ""
    /// `compress_gzip_opts`.
    package var compressGzipOptions = ""
    /// `compress_xz_opts`.
    package var compressXzOptions = "--check=crc32 --lzma2=dict=1MiB"
    /// `compress_zstd_opts`.
    package var compressZstdOptions = "-q --rm -T0"
    /// `build_environment`: a file sourced before builds.
    package var buildEnvironment = ""
    /// `post_transaction`: a command run after a successful change.
    package var postTransaction = ""

    /// `report_build_logs` (not in upstream): autoinstall names the kept
    /// build log of every module that failed.
    package var reportBuildLogs = false
    /// `build_sandbox` (not in upstream): builds run in a bubblewrap
    /// sandbox when bubblewrap is installed (`no` turns it off).
    package var buildSandbox = true
    /// `build_user` (not in upstream): the user sandboxed builds run as
    /// when dkms is root; empty for the package's `dkms-build` (or
    /// `nobody` when that user does not exist).
    package var buildUser = ""
    /// `build_time_limit`, `build_max_processes`, `build_max_memory` (not
    /// in upstream): the limits of a sandboxed build.
    package var buildLimits = BuildLimits()
    /// `build_cache` (not in upstream): builds are looked up in and stored
    /// into the module cache (`no` turns it off).
    package var buildCache = true
    /// `build_cache_size` (not in upstream): the local cache's bound in
    /// bytes (least recently used entries go first).
    package var buildCacheSize = 4 << 30
    /// `build_cache_shared` (not in upstream): shared caches to read from,
    /// directories or `http(s)://` URLs.
    package var buildCacheShared: [String] = []
    /// `build_cache_trusted_keys` (not in upstream): the directory of the
    /// fleet public keys whose signatures shared entries must carry.
    package var buildCacheTrustedKeys = ""
    /// `build_cache_signing_key` (not in upstream): the fleet private key
    /// `dkms cache export` signs manifests with.
    package var buildCacheSigningKey = ""
    /// `build_cache_shared_budget` (not in upstream): the seconds each
    /// shared location may take in one command (all its downloads
    /// together); a location that used them up is not tried again.
    package var buildCacheSharedBudget = SharedCacheLedger.defaultBudget
    /// The values `build_cache_shared_budget` may take (others leave the default).
    package static let sharedBudgetRange = 1...86_400

    /// `kernel_hook_failures` (not in upstream): `fail` makes the kernel
    /// hooks fail for any module, as upstream's do; otherwise only modules
    /// needed to boot fail them (see KernelHookPolicy.swift).
    package var kernelHookFailures = ""

    // Detected facts.
    /// The distribution string from os-release.
    package var distribution = ""
    /// `ADDON_MODULES_DIR`.
    package var addonModulesDirectory = ""
    /// `uname -r`.
    package var runningKernel = ""
    /// `uname -m`.
    package var machine = ""
    /// The environment children inherit (CC and friends removed).
    package var environment: [String: String] = [:]

    // Command line.
    /// The action, if any.
    package var action: Action?
    /// `module` (from `-m`, `m/v` or a dkms.conf).
    package var module = ""
    /// `module_version`.
    package var moduleVersion = ""
    /// `-k` values.
    package var kernels: [String] = []
    /// `-a` values (and arches from `-k K/A`).
    package var arches: [String] = []
    /// `--templatekernel`.
    package var templateKernel = ""
    /// `-c`: an explicit dkms.conf.
    package var conf = ""
    /// `--config`: an explicit kernel config.
    package var kernelConfig = ""
    /// `--kernelsourcedir`.
    package var kernelSourceDir = ""
    /// `--archive` or a tarball given as a word.
    package var archive = ""
    /// A source directory given as a word.
    package var sourceTreeArgument = ""
    /// `--force`.
    package var force = false
    /// `--force-version-override`.
    package var forceVersionOverride = false
    /// `--binaries-only`.
    package var binariesOnly = false
    /// `--source-only`.
    package var sourceOnly = false
    /// `--all`.
    package var all = false
    /// `--rpm_safe_upgrade`.
    package var rpmSafeUpgrade = false
    /// `--no-depmod`.
    package var noDepmod = false
    /// `--directive` values (`NAME=value`).
    package var directives: [String] = []
    /// `--json` / `--format json` (not in upstream): status as JSON.
    package var jsonOutput = false
    /// `--all-kernels` (not in upstream): autoinstall for every kernel
    /// whose headers are installed, their builds at once.
    package var allKernels = false
    /// How many `-k` the command line gave (before defaults and `--all-kernels`).
    package var kernelsFromCommandLine = 0
    /// `--dry-run` (not in upstream): print the plan, change nothing.
    package var dryRun = false
    /// The words after an action that takes its own (`cache list`).
    package var actionArguments: [String] = []
    /// `--no-cache` (not in upstream): build without looking up the module
    /// cache (the build is still stored).
    package var noCache = false
    /// The program path shown in the usage text.
    package var programName = "dkms"

    /// Whether a setting that is on by default is turned off (`no`,
    /// `false` or `0`, in any case).
    package static func turnsOff(_ value: String) -> Bool {
        ["no", "false", "0"].contains(value.lowercased())
    }

    /// A size as framework.conf writes it: bytes, or a number with `K`,
    /// `M`, `G` or `T` (powers of 1024); nil when empty or not a size.
    package static func byteCount(_ text: String) -> Int? {
        var digits = text.uppercased()
        var unit = 1
        if let last = digits.last, let power = ["K": 10, "M": 20, "G": 30, "T": 40][String(last)] {
            unit = 1 << power
            digits.removeLast()
        }
        guard let number = Int(digits), number >= 0 else { return nil }
        return number.multipliedReportingOverflow(by: unit).overflow ? Int.max : number * unit
    }

    /// Creates settings with upstream's defaults.
    package init() {}

    /// `--kernelsourcedir` was given on the command line (even empty:
    /// upstream then looks for the headers at `/include` and exits 21).
    package var kernelSourceDirGiven = false
    /// `kernelsourcedir` was given on the command line.
    package var kernelSourceDirFromCommandLine: Bool { kernelSourceDirGiven || !kernelSourceDir.isEmpty }
    /// `--config` was given on the command line.
    package var kernelConfigFromCommandLine: Bool { !kernelConfig.isEmpty }

    /// How destinations are rewritten on this distribution.
    package var destinationPolicy: DestinationPolicy {
        DestinationPolicy(distribution: distribution, addonModulesDirectory: addonModulesDirectory)
    }

    /// Whether the distribution is one where arch is `uname -m` and
    /// empty install directories are simply removed.
    package var isDebianLike: Bool {
        ["debian", "ubuntu", "arch", "gentoo"].contains { distribution.hasPrefix($0) }
    }

    /// `uname -r` and `uname -m` of this machine.
    package static func uname() -> (release: String, machine: String) {
        var info = utsname()
        Glibc.uname(&info)
        func text<T>(_ field: T) -> String {
            withUnsafePointer(to: field) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout<T>.size) { String(cString: $0) }
            }
        }
        return (text(info.release), text(info.machine))
    }
}
