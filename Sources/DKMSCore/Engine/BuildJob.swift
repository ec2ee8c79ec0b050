#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A build run as a separate dkms process, so several modules build at
/// once. The child runs `dkms build` with the parent's settings, writes
/// framed console output (see ``ConsoleFrames``) that the parent replays
/// in upstream's order, and joins the parent's ``JobServer``.
enum BuildJob {
    /// Framed console output, for the parent to replay.
    static let framed = "DKMS_INTERNAL_JOB"
    /// `KERNEL/ARCH` whose headers and signing the parent already prepared
    /// (and announced): the child prepares silently.
    static let prepared = "DKMS_INTERNAL_PREPARED"
    /// The parent's conf cache holds this module: the child's first read
    /// prints nothing, as upstream's cache hit does.
    static let confCached = "DKMS_INTERNAL_CONF_CACHED"
    /// All of the above, never passed on to grandchildren.
    static let variables = [framed, prepared, confCached]
}

extension Engine {
    /// This process' own executable.
    static var executablePath: String {
        FileSystem.readLink("/proc/self/exe") ?? "dkms"
    }

    /// The command line of a build job for one module version and kernel.
    func buildJobArguments(module: String, version: String, kernel: String, arch: String) -> [String] {
        var arguments = ["build", "-m", module, "-v", version, "-k", "\(kernel)/\(arch)",
                         "--dkmstree", dkmsTree, "--sourcetree", sourceTree, "--installtree", installTree,
                         "-j", settings.parallelJobs.isEmpty ? "0" : settings.parallelJobs]
        if settings.kernelSourceDirFromCommandLine { arguments += ["--kernelsourcedir", settings.kernelSourceDir] }
        if settings.kernelConfigFromCommandLine { arguments += ["--config", settings.kernelConfig] }
        for directive in settings.directives { arguments += ["--directive", directive] }
        if settings.verbose { arguments.append("--verbose") }
        if state.force { arguments.append("--force") }
        return arguments
    }

    /// Starts a build job; the task returns the job's status and output.
    func startBuildJob(module: String, version: String, kernel: String, arch: String,
                       jobServer: JobServer, confCached: Bool) -> Task<ProcessOutcome, Never> {
        var environment = childEnvironment
        environment[BuildJob.framed] = "1"
        environment[BuildJob.prepared] = "\(kernel)/\(arch)"
        if confCached { environment[BuildJob.confCached] = "1" }
        environment["PATH"] = jobServer.wrapperDirectory + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        let spec = ProcessSpec(Self.executablePath, buildJobArguments(module: module, version: version, kernel: kernel, arch: arch),
                               environment: environment, output: .capture, error: .mergeWithOutput)
        let runner = self.runner
        return Task {
            await jobServer.acquire()
            defer { jobServer.release() }
            return await runner.run(spec)
        }
    }

    /// In a build job: prepare the kernel and signing the parent announced,
    /// without printing, and honour the parent's conf cache.
    func adoptParentPreparation() async {
        guard let prepared = settings.environment[BuildJob.prepared],
              let slash = prepared.firstIndex(of: "/") else { return }
        let kernel = String(prepared[..<slash])
        let arch = String(prepared[prepared.index(after: slash)...])
        let visible = console
        console = SilentConsole()
        await prepareSigning(kernel: kernel, arch: arch, module: settings.module, version: settings.moduleVersion)
        console = visible
        state.preparedKernel = prepared
        state.silenceNextConfRead = settings.environment[BuildJob.confCached] != nil
    }

    /// The job budget of this command (`-j`, `parallel_jobs`, default the
    /// number of processors).
    var jobBudget: Int {
        Int(settings.parallelJobs) ?? Self.processorCount()
    }
}
