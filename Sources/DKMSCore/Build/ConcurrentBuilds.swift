/// What to do for one build of a batch before it is planned.
enum BatchStart {
    /// Nothing more to do (the step said why).
    case done
    /// No build is needed, but the step's follow-up runs.
    case withoutBuild
    /// Plan and run the build.
    case build
}

/// One build of a batch: planned in a scope of its own, its output kept
/// for later, and its compile running concurrently with the others.
struct StartedBuild {
    /// The build.
    var target: BuildPlan.Target
    /// What the scope printed while it planned.
    var planning: BufferedConsole
    /// What the scope decided.
    var start: BatchStart = .done
    /// The status when the scope failed.
    var status: Int32 = 0
    /// The plan, when a build runs.
    var planned: PlannedBuild?
    /// Its builder.
    var builder: Builder?
    /// What the build printed.
    var output: BufferedConsole?
    /// The running compile: the error it ended with, or nil.
    var task: Task<DKMSError?, Never>?
}

struct ConcurrentBuilds: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// Starts one build of a batch. `prepare` runs first, in the build's
    /// subshell (nothing it changes in the scope reaches this one) with its
    /// output kept for ``finish(_:then:)``; then the build is planned there
    /// too, and its compile starts.
    /// - Parameters:
    ///   - sharesMountPoint: builds of the same module version for other
    ///     kernels run at the same time.
    ///   - jobServer: the budget every make of the batch shares.
    func start(_ target: BuildPlan.Target, sharesMountPoint: Bool, jobServer: JobServer?,
               prepare: (Engine) async throws(DKMSError) -> BatchStart) async -> StartedBuild {
        let planning = BufferedConsole()
        var started = StartedBuild(target: target, planning: planning)
        let shell = Engine(nestedIn: engine, scope: engine.scope, console: planning)
        shell.scope.module = target.module
        shell.scope.version = target.version
        do {
            started.start = try await prepare(shell)
            guard started.start == .build else { return started }
            let planned = try await BuildStep(engine: shell).planBuild(module: target.module, version: target.version, kernel: target.kernel, arch: target.arch)
            let output = BufferedConsole()
            let builder = await BuildStep(engine: shell).makeBuilder(for: planned.plan, console: output, sandboxAllowed: planned.sandboxAllowed,
                                                  sharesMountPoint: sharesMountPoint, jobServer: jobServer, buffered: true)
            started.planned = planned
            started.builder = builder
            started.output = output
            started.task = Task {
                if let jobServer { await jobServer.acquire() }
                defer { jobServer?.release() }
                do throws(DKMSError) {
                    try await builder.run(from: planned.cache.entry)
                    return nil
                } catch {
                    return error
                }
            }
        } catch {
            if let diagnostic = error.diagnostic { planning.report(diagnostic) }
            started.status = error.status
            started.start = .done
        }
        return started
    }

    /// Shows what a started build printed, waits for its compile, publishes
    /// it and runs `then`, all in one subshell.
    /// - Returns: the status of the subshell.
    func finish(_ started: StartedBuild, then: (Engine) async throws(DKMSError) -> Int32) async -> Int32 {
        started.planning.flush(to: engine.console)
        if started.start == .done { return started.status }
        let failure = await started.task?.value
        started.output?.flush(to: engine.console)
        return await engine.subshell { shell throws(DKMSError) -> Int32 in
            shell.scope.module = started.target.module
            shell.scope.version = started.target.version
            if let planned = started.planned, let builder = started.builder {
                do throws(DKMSError) {
                    if let failure { throw failure }
                    try await BuildStep(engine: shell).publish(planned, builder: builder)
                } catch {
                    BuildStep(engine: shell).settleFailedBuild(builder)
                    throw error
                }
            }
            return try await then(shell)
        }
    }

    /// After builds that shared a canonical build directory have all
    /// ended: the last failed build's directory becomes it, as upstream
    /// leaves the last build's; with no failure it goes, as after a
    /// successful build.
    func settleSharedBuilds(_ started: [StartedBuild]) {
        let builders = started.compactMap(\.builder).filter(\.sharesMountPoint)
        guard let any = builders.first else { return }
        let failed = builders.filter { fileSystem.isDirectory($0.directory) }
        for builder in failed.dropLast() { fileSystem.removeTree(builder.directory) }
        if let last = failed.last {
            last.settleAsCanonical()
        } else {
            fileSystem.removeTree(any.plan.buildDirectory)
        }
    }

    /// The jobserver of a command that builds several modules at once
    /// (nil with a budget of one job).
    func makeJobServer() -> JobServer? {
        jobBudget > 1 ? JobServer(size: jobBudget, directory: settings.tmpLocation,
                                  realMake: SigningSetup(engine: engine).commandPath("make") ?? "/usr/bin/make") : nil
    }

    /// The job budget of this command (`-j`, `parallel_jobs`, default the
    /// number of processors).
    var jobBudget: Int {
        Int(settings.parallelJobs) ?? CommandRunner.processorCount()
    }

    /// Whether builds of the current module for several kernels can run at
    /// once: each needs its own directory behind the canonical one, which
    /// only the sandbox gives.
    func canBuildKernelsConcurrently() async -> Bool {
        guard engine.kernelArchPairs.count > 1, jobBudget > 1, !engine.scope.module.isEmpty else { return false }
        guard await BuildStep(engine: engine).buildSandbox() != nil else { return false }
        return await BuildStep(engine: engine).sandboxAllowed(module: engine.scope.module)
    }

    /// `dkms build` or `dkms install` of one module for several kernels:
    /// the builds run at once; output, publishing and installs follow in
    /// upstream's order, kernel by kernel.
    /// - Returns: the status of the last kernel, as upstream's loop returns.
    func buildForKernelsConcurrently(install: Bool) async -> Int32 {
        let module = engine.scope.module
        let version = engine.scope.version
        let jobServer = makeJobServer()
        var started: [StartedBuild] = []
        for (kernel, arch) in engine.kernelArchPairs {
            let target = BuildPlan.Target(module: module, version: version, kernel: kernel, arch: arch)
            started.append(await start(target, sharesMountPoint: true, jobServer: jobServer) { shell throws(DKMSError) -> BatchStart in
                install ? try await ConcurrentBuilds(engine: shell).prepareInstall(target) : ConcurrentBuilds(engine: shell).prepareBuild(target)
            })
        }
        var status: Int32 = 0
        for build in started {
            let target = build.target
            status = await finish(build) { shell throws(DKMSError) -> Int32 in
                if install { try await InstallStep(engine: shell).install(module: target.module, version: target.version, kernel: target.kernel, arch: target.arch) }
                return 0
            }
        }
        settleSharedBuilds(started)
        return status
    }

    /// `maybe_build_module`'s decision for one kernel.
    func prepareBuild(_ target: BuildPlan.Target) -> BatchStart {
        guard tree.isBuilt(target.module, target.version, target.kernel, target.arch) else { return .build }
        if engine.scope.force {
            UninstallStep(engine: engine).unbuildDirectory(module: target.module, version: target.version, kernel: target.kernel, arch: target.arch)
            return .build
        }
        engine.console.line("Module \(target.module)/\(target.version) already built for kernel \(target.kernel) (\(target.arch)), skip. You may override by specifying --force.")
        return .done
    }

    /// `maybe_install_module`'s decision for one kernel.
    func prepareInstall(_ target: BuildPlan.Target) async throws(DKMSError) -> BatchStart {
        if tree.isInstalled(target.module, target.version, target.kernel, target.arch) {
            if engine.scope.force {
                try await UninstallStep(engine: engine).uninstall(module: target.module, version: target.version, kernel: target.kernel, arch: target.arch)
                engine.console.line()
            } else {
                engine.console.line("Module \(target.module)/\(target.version) already installed on kernel \(target.kernel) (\(target.arch)), skip. You may override by specifying --force.")
                return .done
            }
        }
        return tree.isBuilt(target.module, target.version, target.kernel, target.arch) ? .withoutBuild : .build
    }
}
