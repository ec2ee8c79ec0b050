#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What dkms does before it looks at its command line: the environment
/// is cleaned, the distribution detected, the temporary directory
/// checked and framework.conf read.
package enum Bootstrap {
    /// The variables upstream unsets so they cannot disturb a build.
    package static let unsetVariables = ["CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS"]

    /// The framework.conf variables read at start-up.
    package static let frameworkNames = [
        "source_tree", "dkms_tree", "install_tree", "tmp_location", "verbose", "symlink_modules",
        "autoinstall_all_kernels", "modprobe_on_install", "parallel_jobs", "compress_gzip_opts",
        "compress_xz_opts", "compress_zstd_opts", "build_environment", "post_transaction",
        "report_build_logs", "build_sandbox", "kernel_hook_failures",
        "build_cache", "build_cache_size", "build_cache_shared", "build_cache_trusted_keys",
        "build_cache_signing_key", "build_cache_shared_budget", "build_user", "build_time_limit", "build_max_processes", "build_max_memory",
    ]

    /// Prepares the settings of one invocation.
    /// - Parameters:
    ///   - environment: the process environment.
    ///   - console: where warnings go.
    ///   - runner: runs bash for framework.conf.
    ///   - fileSystem: where the configuration files are read.
    /// - Throws: ``DKMSError`` 4 when no os-release file exists, 1 when no
    ///   temporary file can be made.
    package static func prepare(
        environment: [String: String], console: any Console, runner: any ProcessRunning,
        fileSystem: any FileSystemAccess = LocalFileSystem()
    ) async throws(DKMSError) -> Settings {
        umask(0o022)
        var settings = Settings()
        var env = environment
        for name in unsetVariables { env.removeValue(forKey: name) }
        settings.environment = env
        (settings.runningKernel, settings.machine) = Settings.uname()
        guard let distribution = OSRelease.distribution() else {
            throw DKMSError(.missingConfOrOneKernelOnly, "System is missing os-release file.")
        }
        settings.distribution = distribution
        if let tmp = env["TMPDIR"], !tmp.isEmpty { settings.tmpLocation = tmp }

        var template = Array((settings.tmpLocation + "/tmp.XXXXXXXXXX").utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw DKMSError(.notPermittedOrMissingArguments, "Unable to make temporary file.") }
        let probe = String(cString: template)
        let message = "Hello, DKMS!\n"
        let written = write(fd, message, message.utf8.count)
        close(fd)
        if written != message.utf8.count || fileSystem.readText(probe) != message {
            console.warning("dkms will not function properly without some free space in $TMPDIR (\(settings.tmpLocation)).")
        }
        unlink(probe)

        settings.addonModulesDirectory = env["ADDON_MODULES_DIR"] ?? ""
        let sysconfig = "/etc/sysconfig/module-init-tools"
        if settings.addonModulesDirectory.isEmpty && fileSystem.exists(sysconfig) {
            let values = await ShellSourcer(runner: runner, fileSystem: fileSystem).evaluate(.init(
                globals: [], environment: env, files: [sysconfig], names: ["ADDON_MODULES_DIR"], unsetFirst: false))
            settings.addonModulesDirectory = values["ADDON_MODULES_DIR"].value
        }

        settings.parallelJobs = env["parallel_jobs"] ?? ""
        let globals: [(name: String, value: ShellArray)] = [
            ("dkms_tree", ShellArray(scalar: settings.dkmsTree)),
            ("source_tree", ShellArray(scalar: settings.sourceTree)),
            ("install_tree", ShellArray(scalar: settings.installTree)),
            ("tmp_location", ShellArray(scalar: settings.tmpLocation)),
            ("verbose", ShellArray(scalar: "")),
            ("symlink_modules", ShellArray(scalar: "")),
            ("compress_gzip_opts", ShellArray(scalar: settings.compressGzipOptions)),
            ("compress_xz_opts", ShellArray(scalar: settings.compressXzOptions)),
            ("compress_zstd_opts", ShellArray(scalar: settings.compressZstdOptions)),
            ("running_distribution", ShellArray(scalar: distribution)),
            ("current_kernel", ShellArray(scalar: settings.runningKernel)),
        ]
        let values = await FrameworkFiles.read(
            names: frameworkNames, globals: globals, environment: env, runner: runner, fileSystem: fileSystem)
        func value(_ name: String, _ fallback: String) -> String {
            guard let values else { return fallback }
            return values.isSet(name) ? values[name].value : fallback
        }
        settings.dkmsTree = value("dkms_tree", settings.dkmsTree)
        settings.sourceTree = value("source_tree", settings.sourceTree)
        settings.installTree = value("install_tree", settings.installTree)
        settings.tmpLocation = value("tmp_location", settings.tmpLocation)
        settings.verbose = !value("verbose", "").isEmpty
        settings.symlinkModules = !value("symlink_modules", "").isEmpty
        settings.autoinstallAllKernels = value("autoinstall_all_kernels", env["autoinstall_all_kernels"] ?? "")
        settings.modprobeOnInstall = !value("modprobe_on_install", env["modprobe_on_install"] ?? "").isEmpty
        settings.parallelJobs = value("parallel_jobs", settings.parallelJobs)
        settings.compressGzipOptions = value("compress_gzip_opts", settings.compressGzipOptions)
        settings.compressXzOptions = value("compress_xz_opts", settings.compressXzOptions)
        settings.compressZstdOptions = value("compress_zstd_opts", settings.compressZstdOptions)
        settings.buildEnvironment = value("build_environment", env["build_environment"] ?? "")
        settings.postTransaction = value("post_transaction", env["post_transaction"] ?? "")
        settings.reportBuildLogs = !value("report_build_logs", env["report_build_logs"] ?? "").isEmpty
        settings.buildSandbox = !Settings.turnsOff(value("build_sandbox", env["build_sandbox"] ?? ""))
        settings.buildUser = value("build_user", env["build_user"] ?? "")
        for kind in BuildLimits.Kind.allCases {
            let text = value(kind.rawValue, env[kind.rawValue] ?? "")
            guard !text.trimmingBlanks().isEmpty else { continue }
            if let limit = BuildLimits.parse(text, as: kind) {
                switch kind {
                case .time: settings.buildLimits.timeSeconds = limit
                case .processes: settings.buildLimits.maxProcesses = limit
                case .memory: settings.buildLimits.maxMemory = limit
                }
            } else {
                console.warning("\(kind.rawValue)=\"\(text)\" in framework.conf is not a valid limit; the default \(settings.buildLimits.describe(kind)) applies.")
            }
        }
        settings.kernelHookFailures = value("kernel_hook_failures", env["kernel_hook_failures"] ?? "")
        settings.buildCache = !Settings.turnsOff(value("build_cache", env["build_cache"] ?? ""))
        if let size = Settings.byteCount(value("build_cache_size", env["build_cache_size"] ?? "")) {
            settings.buildCacheSize = size
        }
        settings.buildCacheShared = ShellText.words(value("build_cache_shared", env["build_cache_shared"] ?? ""))
        settings.buildCacheTrustedKeys = value("build_cache_trusted_keys", env["build_cache_trusted_keys"] ?? "")
        settings.buildCacheSigningKey = value("build_cache_signing_key", env["build_cache_signing_key"] ?? "")
        if let budget = CacheNumber.parse(value("build_cache_shared_budget", env["build_cache_shared_budget"] ?? ""),
                                          in: Settings.sharedBudgetRange) {
            settings.buildCacheSharedBudget = budget
        }
        return settings
    }
}

/// framework.conf and framework.conf.d/*.conf.
package enum FrameworkFiles {
    /// The configuration directory (`/etc/dkms`). Tests may point it
    /// elsewhere with `SWIFT_DKMS_SYSCONFDIR`.
    package static func directory(_ environment: [String: String]) -> String {
        environment["SWIFT_DKMS_SYSCONFDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/etc/dkms"
    }

    /// The files that exist, in upstream's order.
    package static func files(_ environment: [String: String], fileSystem: any FileSystemAccess = LocalFileSystem()) -> [String] {
        let dir = directory(environment)
        var files: [String] = []
        if fileSystem.exists(dir + "/framework.conf") { files.append(dir + "/framework.conf") }
        for name in fileSystem.globEntries(of: dir + "/framework.conf.d") where name.hasSuffix(".conf") {
            files.append(dir + "/framework.conf.d/" + name)
        }
        return files
    }

    /// Sources the framework files and returns the named variables, or
    /// nil when there is no framework file at all.
    package static func read(
        names: [String], globals: [(name: String, value: ShellArray)],
        environment: [String: String], runner: any ProcessRunning,
        fileSystem: any FileSystemAccess = LocalFileSystem()
    ) async -> ShellVariables? {
        let files = files(environment, fileSystem: fileSystem)
        guard !files.isEmpty else { return nil }
        return await ShellSourcer(runner: runner, fileSystem: fileSystem).evaluate(.init(
            globals: globals, environment: environment, files: files, names: names, unsetFirst: false))
    }
}
