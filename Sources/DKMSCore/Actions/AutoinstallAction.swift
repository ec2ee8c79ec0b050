/// What one autoinstall run did, in upstream's three summary groups.
package struct AutoinstallSummary: Sendable, Equatable {
    /// Modules installed (or already installed).
    package var installed: [String] = []
    /// Modules skipped because BUILD_EXCLUSIVE excluded them (status 77).
    package var skipped: [String] = []
    /// Failures as `name(status)`.
    package var failed: [String] = []
}

/// `dkms autoinstall`: installs every AUTOINSTALL module into the requested kernels.
struct AutoinstallAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {
        if !engine.shared.kernelsChosenForRoot { try engine.requireOneKernelUnlessAllKernels(Action.autoinstall.rawValue) }
        try engine.requireRoot()
    }

    func run() async throws(DKMSError) -> RunResult {
        try await autoinstall()
        return .exit(0)
    }


    /// Upstream's `autoinstall`: for each requested kernel, installs the
    /// newest version of every AUTOINSTALL module not yet installed, in
    /// BUILD_DEPENDS order, then prints the summary. With several kernels
    /// (not in upstream, which takes one) the first builds of every kernel
    /// start at once; each kernel's output stays together, in order.
    /// - Throws: ``DKMSError`` 11 when a module failed or a dependency
    ///   could not be satisfied.
    func autoinstall() async throws(DKMSError) {
        if fileSystem.isRegularFile("\(engine.etcDirectory)/no-autoinstall") {
            engine.console.line("Automatic installation of modules has been disabled.")
            return
        }
        let pairs = engine.kernelArchPairs
        let jobServer = ConcurrentBuilds(engine: engine).makeJobServer()
        guard pairs.count > 1 else {
            try await autoinstall(kernel: engine.firstKernel, arch: engine.firstArch, jobServer: jobServer, started: [:])
            return
        }
        var early: [String: [String: StartedBuild]] = [:]
        if jobServer != nil, await BuildStep(engine: engine).buildSandbox() != nil {
            early = await startFirstWaves(pairs, jobServer: jobServer)
        }
        var failure: DKMSError?
        for (kernel, arch) in pairs {
            do {
                try await autoinstall(kernel: kernel, arch: arch, jobServer: jobServer, started: early["\(kernel)/\(arch)"] ?? [:])
            } catch {
                // Each kernel's failure is shown with that kernel's output.
                if let diagnostic = error.diagnostic { engine.console.report(diagnostic) }
                failure = error
            }
        }
        let all = early.values.flatMap(\.values)
        for group in Dictionary(grouping: all, by: { "\($0.target.module)/\($0.target.version)" }).values {
            ConcurrentBuilds(engine: engine).settleSharedBuilds(group)
        }
        if let failure { throw DKMSError.exit(failure.status) }
    }

    /// The AUTOINSTALL module versions autoinstall would install for a
    /// kernel, and those already installed.
    func autoinstallQueue(kernel: String, arch: String, reportBroken: Bool) async throws(DKMSError)
        -> (queue: [AutoinstallCandidate], installed: [String], optional: Set<String>, required: Set<String>,
            known: [String], latest: [String: String]) {
        let (versions, broken) = AutoinstallScheduler.newestVersions(tree.status())
        if reportBroken {
            for (m, v) in broken {
                engine.console.error("\(m)/\(v) is broken! Missing the source directory or the symbolic link pointing to it.",
                              "Manual intervention is required!")
            }
        }
        var queue: [AutoinstallCandidate] = []
        var installed: [String] = []
        var optional: Set<String> = []
        var required: Set<String> = []
        for (m, v) in versions {
            if tree.isActive(m, v, kernel, arch) {
                installed.append(m)
                continue
            }
            let config = try await ConfReader(engine: engine).readConfOrDie(kernel: kernel, arch: arch, module: m, version: v,
                                                 file: tree.sourceDirectory(m, v) + "/dkms.conf")
            guard config.autoinstall else { continue }
            if config.isOptional { optional.insert(m) }
            if config.isRequired { required.insert(m) }
            queue.append(AutoinstallCandidate(module: m, version: v,
                                              dependencies: ShellText.words(config.buildDepends.joined(separator: " "))))
        }
        return (queue, installed, optional, required, versions.map(\.module),
                Dictionary(versions.map { ($0.module, $0.version) }, uniquingKeysWith: { first, _ in first }))
    }

    /// With several kernels: starts, for every kernel, the builds of the
    /// modules that wait for nothing, each planned in its own scope and
    /// with what preparing its kernel printed kept for later.
    /// - Returns: the started builds by `kernel/arch` and module.
    func startFirstWaves(_ pairs: [(String, String)], jobServer: JobServer?) async -> [String: [String: StartedBuild]] {
        var started: [String: [String: StartedBuild]] = [:]
        for (kernel, arch) in pairs {
            // Each kernel is planned in a scope of its own, that reads the
            // queue silently and keeps what preparing the kernel prints.
            let quiet = BufferedConsole()
            let scanner = Engine(nestedIn: engine, scope: engine.scope, console: SilentConsole())
            guard let scan = try? await AutoinstallAction(engine: scanner).autoinstallQueue(kernel: kernel, arch: arch, reportBroken: false) else { continue }
            let planner = Engine(nestedIn: scanner, scope: scanner.scope, console: quiet)
            let wave = AutoinstallScheduler.nextWave(scan.queue, satisfied: Set(scan.installed)).ready
            let unbuilt = wave.filter { !planner.tree.isBuilt($0.module, $0.version, kernel, arch) }
            guard !unbuilt.isEmpty, (try? await BuildStep(engine: planner).prepareKernelAndSigning(kernel: kernel, arch: arch, module: "", version: "")) != nil
            else { continue }
            var builds: [String: StartedBuild] = [:]
            // A module the admin keeps out of the sandbox builds in the
            // canonical directory itself: one kernel at a time, later.
            for candidate in unbuilt where await BuildStep(engine: planner).sandboxAllowed(module: candidate.module) {
                let target = BuildPlan.Target(module: candidate.module, version: candidate.version, kernel: kernel, arch: arch)
                var build = await ConcurrentBuilds(engine: planner).start(target, sharesMountPoint: true, jobServer: jobServer) { _ throws(DKMSError) -> BatchStart in .build }
                if builds.isEmpty {
                    // What preparing the kernel printed comes first.
                    let planning = BufferedConsole()
                    quiet.flush(to: planning)
                    build.planning.flush(to: planning)
                    build.planning = planning
                }
                builds[candidate.module] = build
            }
            started["\(kernel)/\(arch)"] = builds
        }
        return started
    }

    /// Autoinstall for one kernel.
    /// - Parameter started: builds already started for this kernel.
    func autoinstall(kernel: String, arch: String, jobServer: JobServer?, started early: [String: StartedBuild]) async throws(DKMSError) {
        let scan = try await autoinstallQueue(kernel: kernel, arch: arch, reportBroken: true)
        var summary = AutoinstallSummary()
        summary.installed = scan.installed
        var queue = scan.queue
        var optionalFailures: [String] = []
        var failedVersions: [(String, String)] = []
        guard !queue.isEmpty else { return }
        KernelChoice(engine: engine).announceChosenKernels()
        if !early.isEmpty {
            // The kernel was prepared (and announced) when its builds started.
            try? await engine.redirected(to: SilentConsole()) { step throws(DKMSError) in
                try await BuildStep(engine: step).prepareKernelAndSigning(kernel: kernel, arch: arch, module: step.scope.module, version: step.scope.version)
            }
        }
        var early = early
        if !settings.verbose { transaction.depmod.deferToEnd() }
        // What preparing the kernel printed before the first build of a
        // wave started, shown before the first module's lines.
        var preamble: BufferedConsole?
        while true {
            var progress = 0
            let (wave, waiting) = AutoinstallScheduler.nextWave(queue, satisfied: Set(summary.installed + summary.skipped))
            var started = await startWave(wave.filter { early[$0.module] == nil }.map { ($0.module, $0.version) },
                                          kernel: kernel, arch: arch, jobServer: jobServer, preamble: &preamble)
            started.merge(early) { current, _ in current }
            early = [:]
            for candidate in wave {
                let (m, v) = (candidate.module, candidate.version)
                let status: Int32
                if let build = started[m] {
                    preamble?.flush(to: engine.console)
                    preamble = nil
                    engine.console.line("Autoinstall of module \(m)/\(v) for kernel \(kernel) (\(arch))")
                    status = await ConcurrentBuilds(engine: engine).finish(build) { shell throws(DKMSError) -> Int32 in
                        shell.scope.silenceNextConfRead = true
                        return await InstallStep(engine: shell).installIfNeeded(module: m, version: v, kernel: kernel, arch: arch)
                    }
                } else {
                    if !tree.isBuilt(m, v, kernel, arch) {
                        try await BuildStep(engine: engine).prepareKernelAndSigning(kernel: kernel, arch: arch, module: engine.scope.module, version: engine.scope.version)
                    }
                    engine.console.line("Autoinstall of module \(m)/\(v) for kernel \(kernel) (\(arch))")
                    status = await engine.subshell { shell throws(DKMSError) -> Int32 in
                        shell.scope.module = m
                        shell.scope.version = v
                        return await InstallStep(engine: shell).installIfNeeded(module: m, version: v, kernel: kernel, arch: arch)
                    }
                }
                switch status {
                case 0:
                    summary.installed.append(m)
                    progress += 1
                case 77:
                    summary.skipped.append(m)
                    progress += 1
                default:
                    if scan.optional.contains(m) {
                        optionalFailures.append("\(m)(\(status))")
                    } else {
                        summary.failed.append("\(m)(\(status))")
                    }
                    failedVersions.append((m, v))
                }
                engine.console.line()
            }
            queue = waiting
            if progress == 0 { break }
        }
        for kernel in transaction.depmod.resume() {
            _ = await engine.depmod(kernel: kernel, output: CommandOutput(output: .discard, error: .discard))
        }

        let failureStatus = KernelHookPolicy.statuses(of: summary.failed + optionalFailures)
        for m in summary.installed + summary.skipped {
            KernelHookPolicy(engine: engine).recordAutoinstallOutcome(module: m, version: scan.latest[m] ?? "", kernel: kernel, arch: arch, status: 0)
        }
        for (m, v) in failedVersions {
            KernelHookPolicy(engine: engine).recordAutoinstallOutcome(module: m, version: v, kernel: kernel, arch: arch, status: failureStatus[m] ?? 1)
        }

        if !summary.installed.isEmpty {
            engine.console.line("Autoinstall on \(kernel) succeeded for module(s) \(summary.installed.joined(separator: " ")).")
        }
        if !summary.skipped.isEmpty {
            engine.console.line("Autoinstall on \(kernel) was skipped for module(s) \(summary.skipped.joined(separator: " ")).")
        }
        if !summary.failed.isEmpty {
            engine.console.line("Autoinstall on \(kernel) failed for module(s) \(summary.failed.joined(separator: " ")).")
        }
        if !optionalFailures.isEmpty {
            engine.console.line("Autoinstall on \(kernel) failed for optional module(s) \(optionalFailures.joined(separator: " ")).")
        }
        if settings.reportBuildLogs {
            for (m, v) in failedVersions {
                let log = tree.retainedLog(m, v, kernel, arch)
                if fileSystem.exists(log) { engine.console.line("Build log of \(m)/\(v) for kernel \(kernel) (\(arch)): \(log)") }
            }
        }
        let satisfied = Set(summary.installed + summary.skipped)
        var unresolved: [String] = []
        var deferred: [String] = []
        for candidate in queue {
            let (m, v) = (candidate.module, candidate.version)
            var real = ""
            var pending = ""
            for dependency in candidate.dependencies where !satisfied.contains(dependency) {
                if scan.known.contains(dependency) { real += " " + dependency } else { pending += " " + dependency }
            }
            if !real.isEmpty {
                engine.console.line("\(m)/\(v) autoinstall failed due to missing dependencies:\(real).")
                unresolved.append("\(m)/\(v)")
            } else {
                engine.console.line("\(m)/\(v) autoinstall deferred: BUILD_DEPENDS not registered with DKMS:\(pending).")
                deferred.append("\(m)/\(v)")
            }
        }
        if !deferred.isEmpty {
            engine.console.line("Autoinstall on \(kernel) deferred module(s) \(deferred.joined(separator: " ")) due to BUILD_DEPENDS not yet registered with DKMS.")
            engine.console.line("These may be provided externally or by a package not yet configured; autoinstall will retry on the next trigger.")
        }
        if !summary.failed.isEmpty || !unresolved.isEmpty {
            if KernelHookPolicy(engine: engine).hookForgivesFailures {
                var failures = failedVersions.filter { !scan.optional.contains($0.0) }.map { (m, v) in
                    HookFailure(module: m, version: v, status: failureStatus[m] ?? 1, required: scan.required.contains(m))
                }
                for item in unresolved {
                    let parts = item.split(separator: "/", maxSplits: 1).map(String.init)
                    failures.append(HookFailure(module: parts[0], version: parts.count > 1 ? parts[1] : "", status: 0,
                                                required: scan.required.contains(parts[0])))
                }
                if await KernelHookPolicy(engine: engine).hookForgives(failures, kernel: kernel, arch: arch) { return }
            }
            throw DKMSError(.autoinstallFailed, "One or more modules failed to install during autoinstall.",
                            "Refer to previous errors for more information.")
        }
    }

    /// Starts at once, in this process and sharing the job budget, the
    /// builds of every module of a wave that is not built yet. Nothing is
    /// started (and the one-at-a-time path runs) for a single build, without
    /// a jobserver, or when the kernel cannot be prepared.
    /// - Parameter preamble: receives what preparing the kernel printed.
    /// - Returns: the started builds by module.
    func startWave(_ wave: [(module: String, version: String)], kernel: String, arch: String,
                   jobServer: JobServer?, preamble: inout BufferedConsole?) async -> [String: StartedBuild] {
        guard let jobServer else { return [:] }
        let unbuilt = wave.filter { !tree.isBuilt($0.module, $0.version, kernel, arch) }
        guard unbuilt.count > 1 else { return [:] }
        if engine.scope.preparedKernel != "\(kernel)/\(arch)" {
            let buffer = BufferedConsole()
            do {
                try await engine.redirected(to: buffer) { step throws(DKMSError) in
                    try await BuildStep(engine: step).prepareKernelAndSigning(kernel: kernel, arch: arch, module: step.scope.module, version: step.scope.version)
                }
            } catch {
                return [:]
            }
            preamble = buffer
        }
        var started: [String: StartedBuild] = [:]
        for (m, v) in unbuilt {
            let target = BuildPlan.Target(module: m, version: v, kernel: kernel, arch: arch)
            started[m] = await ConcurrentBuilds(engine: engine).start(target, sharesMountPoint: false, jobServer: jobServer) { _ throws(DKMSError) -> BatchStart in .build }
        }
        return started
    }
}
