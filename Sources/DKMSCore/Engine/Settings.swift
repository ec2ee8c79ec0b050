#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Everything one dkms invocation works with: framework.conf values,
/// then the command line on top of them (the CLI fills it in, in
/// upstream's order).
public struct Settings: Sendable {
    // Framework (and command-line) values.
    /// `dkms_tree` (`/var/lib/dkms`).
    public var dkmsTree = "/var/lib/dkms"
    /// `source_tree` (`/usr/src`).
    public var sourceTree = "/usr/src"
    /// `install_tree` (`/lib/modules`).
    public var installTree = "/lib/modules"
    /// `tmp_location` (`$TMPDIR` or `/tmp`).
    public var tmpLocation = "/tmp"
    /// `verbose`: echo commands instead of progress text.
    public var verbose = false
    /// `symlink_modules`: install symlinks instead of copies.
    public var symlinkModules = false
    /// `autoinstall_all_kernels` (used by common.postinst).
    public var autoinstallAllKernels = ""
    /// `modprobe_on_install`.
    public var modprobeOnInstall = false
    /// `parallel_jobs`: the `-j` value for make; empty means unlimited.
    public var parallelJobs = ""
    /// `compress_gzip_opts`.
    public var compressGzipOptions = ""
    /// `compress_xz_opts`.
    public var compressXzOptions = "--check=crc32 --lzma2=dict=1MiB"
    /// `compress_zstd_opts`.
    public var compressZstdOptions = "-q --rm -T0"
    /// `build_environment`: a file sourced before builds.
    public var buildEnvironment = ""
    /// `post_transaction`: a command run after a successful change.
    public var postTransaction = ""

    /// `report_build_logs` (not in upstream): autoinstall names the kept
    /// build log of every module that failed.
    public var reportBuildLogs = false

    /// `kernel_hook_failures` (not in upstream): `fail` makes the kernel
    /// hooks fail for any module, as upstream's do; otherwise only modules
    /// needed to boot fail them (see Engine+HookPolicy.swift).
    public var kernelHookFailures = ""

    // Detected facts.
    /// The distribution string from os-release.
    public var distribution = ""
    /// `ADDON_MODULES_DIR`.
    public var addonModulesDirectory = ""
    /// `uname -r`.
    public var runningKernel = ""
    /// `uname -m`.
    public var machine = ""
    /// The environment children inherit (CC and friends removed).
    public var environment: [String: String] = [:]

    // Command line.
    /// The action, if any.
    public var action: Action?
    /// `module` (from `-m`, `m/v` or a dkms.conf).
    public var module = ""
    /// `module_version`.
    public var moduleVersion = ""
    /// `-k` values.
    public var kernels: [String] = []
    /// `-a` values (and arches from `-k K/A`).
    public var arches: [String] = []
    /// `--templatekernel`.
    public var templateKernel = ""
    /// `-c`: an explicit dkms.conf.
    public var conf = ""
    /// `--config`: an explicit kernel config.
    public var kernelConfig = ""
    /// `--kernelsourcedir`.
    public var kernelSourceDir = ""
    /// `--archive` or a tarball given as a word.
    public var archive = ""
    /// A source directory given as a word.
    public var sourceTreeArgument = ""
    /// `--force`.
    public var force = false
    /// `--force-version-override`.
    public var forceVersionOverride = false
    /// `--binaries-only`.
    public var binariesOnly = false
    /// `--source-only`.
    public var sourceOnly = false
    /// `--all`.
    public var all = false
    /// `--rpm_safe_upgrade`.
    public var rpmSafeUpgrade = false
    /// `--no-depmod`.
    public var noDepmod = false
    /// `--directive` values (`NAME=value`).
    public var directives: [String] = []
    /// `--json` / `--format json` (not in upstream): status as JSON.
    public var jsonOutput = false
    /// `--dry-run` (not in upstream): print the plan, change nothing.
    public var dryRun = false
    /// The program path shown in the usage text.
    public var programName = "dkms"

    /// Creates settings with upstream's defaults.
    public init() {}

    /// `kernelsourcedir` was given on the command line.
    public var kernelSourceDirFromCommandLine: Bool { !kernelSourceDir.isEmpty }
    /// `--config` was given on the command line.
    public var kernelConfigFromCommandLine: Bool { !kernelConfig.isEmpty }

    /// How destinations are rewritten on this distribution.
    public var destinationPolicy: DestinationPolicy {
        DestinationPolicy(distribution: distribution, addonModulesDirectory: addonModulesDirectory)
    }

    /// Whether the distribution is one where arch is `uname -m` and
    /// empty install directories are simply removed.
    public var isDebianLike: Bool {
        ["debian", "ubuntu", "arch", "gentoo"].contains { distribution.hasPrefix($0) }
    }

    /// `uname -r` and `uname -m` of this machine.
    public static func uname() -> (release: String, machine: String) {
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
