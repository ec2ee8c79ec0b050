/// What one autoinstall run did, in upstream's three summary groups.
public struct AutoinstallSummary: Sendable, Equatable {
    /// Modules installed (or already installed).
    public var installed: [String] = []
    /// Modules skipped because BUILD_EXCLUSIVE excluded them (status 77).
    public var skipped: [String] = []
    /// Failures as `name(status)`.
    public var failed: [String] = []
}

extension Engine {
    /// Upstream's `autoinstall` for the single requested kernel: installs
    /// the newest version of every AUTOINSTALL module not yet installed,
    /// in BUILD_DEPENDS order, then prints the summary.
    /// - Throws: ``DKMSError`` 11 when a module failed or a dependency
    ///   could not be satisfied.
    func autoinstall() async throws(DKMSError) {
        if FileSystem.isRegularFile("\(etcDirectory)/no-autoinstall") {
            console.line("Automatic installation of modules has been disabled.")
            return
        }
        let kernel = firstKernel
        let arch = firstArch
        var known: [String] = []
        var latest: [String: String] = [:]
        for record in tree.status() {
            if case .broken(let m, let v) = record {
                console.error("\(m)/\(v) is broken! Missing the source directory or the symbolic link pointing to it.",
                              "Manual intervention is required!")
                continue
            }
            let (m, v) = (record.module, record.version)
            if let current = latest[m] {
                if VersionKey(v) > VersionKey(current) { latest[m] = v }
            } else {
                known.append(m)
                latest[m] = v
            }
        }
        var summary = AutoinstallSummary()
        var queue: [(module: String, version: String)] = []
        var dependencies: [String: [String]] = [:]
        var optional: Set<String> = []
        var required: Set<String> = []
        var optionalFailures: [String] = []
        var failedVersions: [(String, String)] = []
        for m in known {
            let v = latest[m] ?? ""
            if tree.isActive(m, v, kernel, arch) {
                summary.installed.append(m)
                continue
            }
            let config = try await readConfOrDie(kernel: kernel, arch: arch, module: m, version: v,
                                                 file: "\(dkmsTree)/\(m)/\(v)/source/dkms.conf")
            guard config.autoinstall else { continue }
            if config.isOptional { optional.insert(m) }
            if config.isRequired { required.insert(m) }
            queue.append((m, v))
            dependencies[m] = ShellText.words(config.buildDepends.joined(separator: " "))
        }
        guard !queue.isEmpty else { return }

        let jobServer = jobBudget > 1 ? JobServer(size: jobBudget, directory: settings.tmpLocation,
                                                   realMake: commandPath("make") ?? "/usr/bin/make") : nil
        if !settings.verbose { deferredDepmod = [] }
        while true {
            var progress = 0
            var next: [(module: String, version: String)] = []
            let satisfied = Set(summary.installed + summary.skipped)
            for key in dependencies.keys { dependencies[key] = dependencies[key]?.filter { !satisfied.contains($0) } }
            let wave = queue.filter { dependencies[$0.module]?.isEmpty ?? true }
            let jobs = await startWaveBuilds(wave, kernel: kernel, arch: arch, jobServer: jobServer)
            for (m, v) in queue {
                guard dependencies[m]?.isEmpty ?? true else {
                    next.append((m, v))
                    continue
                }
                let status: Int32
                if let job = jobs.tasks[m] {
                    if let preamble = jobs.preamble, !jobs.preambleShown.value {
                        preamble.flush(to: console)
                        jobs.preambleShown.value = true
                    }
                    console.line("Autoinstall of module \(m)/\(v) for kernel \(kernel) (\(arch))")
                    let outcome = await job.value
                    ConsoleFrames.replay(outcome.standardOutput, on: console)
                    if outcome.status == 0 {
                        status = await subshell { () throws(DKMSError) -> Int32 in
                            settings.module = m
                            settings.moduleVersion = v
                            state.silenceNextConfRead = true
                            return await installIfNeeded(module: m, version: v, kernel: kernel, arch: arch)
                        }
                    } else {
                        status = outcome.status
                    }
                } else {
                    if !tree.isBuilt(m, v, kernel, arch) {
                        try await prepareKernelAndSigning(kernel: kernel, arch: arch, module: settings.module, version: settings.moduleVersion)
                    }
                    console.line("Autoinstall of module \(m)/\(v) for kernel \(kernel) (\(arch))")
                    status = await subshell { () throws(DKMSError) -> Int32 in
                        settings.module = m
                        settings.moduleVersion = v
                        return await installIfNeeded(module: m, version: v, kernel: kernel, arch: arch)
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
                    if optional.contains(m) {
                        optionalFailures.append("\(m)(\(status))")
                    } else {
                        summary.failed.append("\(m)(\(status))")
                    }
                    failedVersions.append((m, v))
                }
                console.line()
            }
            queue = next
            if progress == 0 { break }
        }
        if let kernels = deferredDepmod {
            deferredDepmod = nil
            for kernel in kernels.sorted() {
                _ = await depmod(kernel: kernel, output: CommandOutput(output: .discard, error: .discard))
            }
        }

        let failureStatus = Self.statuses(of: summary.failed + optionalFailures)
        for m in summary.installed + summary.skipped { recordAutoinstallOutcome(module: m, version: latest[m] ?? "", kernel: kernel, arch: arch, status: 0) }
        for (m, v) in failedVersions { recordAutoinstallOutcome(module: m, version: v, kernel: kernel, arch: arch, status: failureStatus[m] ?? 1) }

        if !summary.installed.isEmpty {
            console.line("Autoinstall on \(kernel) succeeded for module(s) \(summary.installed.joined(separator: " ")).")
        }
        if !summary.skipped.isEmpty {
            console.line("Autoinstall on \(kernel) was skipped for module(s) \(summary.skipped.joined(separator: " ")).")
        }
        if !summary.failed.isEmpty {
            console.line("Autoinstall on \(kernel) failed for module(s) \(summary.failed.joined(separator: " ")).")
        }
        if !optionalFailures.isEmpty {
            console.line("Autoinstall on \(kernel) failed for optional module(s) \(optionalFailures.joined(separator: " ")).")
        }
        if settings.reportBuildLogs {
            for (m, v) in failedVersions {
                let log = retainedLogPath(module: m, version: v, kernel: kernel, arch: arch)
                if FileSystem.exists(log) { console.line("Build log of \(m)/\(v) for kernel \(kernel) (\(arch)): \(log)") }
            }
        }
        var unresolved: [String] = []
        var deferred: [String] = []
        for (m, v) in queue {
            var real = ""
            var pending = ""
            for dependency in dependencies[m] ?? [] {
                if known.contains(dependency) { real += " " + dependency } else { pending += " " + dependency }
            }
            if !real.isEmpty {
                console.line("\(m)/\(v) autoinstall failed due to missing dependencies:\(real).")
                unresolved.append("\(m)/\(v)")
            } else {
                console.line("\(m)/\(v) autoinstall deferred: BUILD_DEPENDS not registered with DKMS:\(pending).")
                deferred.append("\(m)/\(v)")
            }
        }
        if !deferred.isEmpty {
            console.line("Autoinstall on \(kernel) deferred module(s) \(deferred.joined(separator: " ")) due to BUILD_DEPENDS not yet registered with DKMS.")
            console.line("These may be provided externally or by a package not yet configured; autoinstall will retry on the next trigger.")
        }
        if !summary.failed.isEmpty || !unresolved.isEmpty {
            if hookForgivesFailures {
                var failures = failedVersions.filter { !optional.contains($0.0) }.map { (m, v) in
                    HookFailure(module: m, version: v, status: failureStatus[m] ?? 1, required: required.contains(m))
                }
                for item in unresolved {
                    let parts = item.split(separator: "/", maxSplits: 1).map(String.init)
                    failures.append(HookFailure(module: parts[0], version: parts.count > 1 ? parts[1] : "", status: 0,
                                                required: required.contains(parts[0])))
                }
                if await hookForgives(failures, kernel: kernel, arch: arch) { return }
            }
            throw DKMSError(11, "One or more modules failed to install during autoinstall.",
                            "Refer to previous errors for more information.")
        }
    }

    /// The build jobs of one autoinstall wave, started together.
    struct WaveBuilds {
        var tasks: [String: Task<ProcessOutcome, Never>] = [:]
        /// What preparing the kernel printed, shown before the first job's output.
        var preamble: BufferedConsole?
        var preambleShown = Box(false)
    }

    final class Box<T> {
        var value: T
        init(_ value: T) { self.value = value }
    }

    /// Starts, as separate dkms processes sharing the job budget, the
    /// builds of every module of a wave that is not built yet. Nothing is
    /// started (and the sequential path runs) for a single build, without a
    /// jobserver, or when the kernel cannot be prepared.
    func startWaveBuilds(_ wave: [(module: String, version: String)], kernel: String, arch: String,
                         jobServer: JobServer?) async -> WaveBuilds {
        var builds = WaveBuilds()
        guard let jobServer else { return builds }
        let unbuilt = wave.filter { !tree.isBuilt($0.module, $0.version, kernel, arch) }
        guard unbuilt.count > 1 else { return builds }
        if state.preparedKernel != "\(kernel)/\(arch)" {
            let buffer = BufferedConsole(renderingWith: console)
            let visible = console
            console = buffer
            defer { console = visible }
            do {
                try await prepareKernelAndSigning(kernel: kernel, arch: arch, module: settings.module, version: settings.moduleVersion)
            } catch {
                return builds
            }
            builds.preamble = buffer
        }
        let cachedKey = state.lastConfKey ?? ""
        for (m, v) in unbuilt {
            let cached = cachedKey.hasPrefix("\(m)/\(v)/\(kernel)/\(arch)|")
            builds.tasks[m] = startBuildJob(module: m, version: v, kernel: kernel, arch: arch, jobServer: jobServer, confCached: cached)
        }
        return builds
    }

    /// Upstream's `kernel_preinst` (only AUTOINSTALL modules) and
    /// `kernel_prerm` (every module): unbuilds everything built for the
    /// kernel, with one deferred depmod and empty directories removed.
    /// - Throws: ``DKMSError`` 14 naming the modules that failed.
    func unbuildForKernel(onlyAutoinstall: Bool, action: String) async throws(DKMSError) {
        let kernel = firstKernel
        let arch = firstArch
        state.delayedDepmod = true
        var failed = ""
        for (m, v) in tree.moduleVersions() {
            guard tree.isBuilt(m, v, kernel, arch) else { continue }
            if onlyAutoinstall {
                let config = try await readConfOrDie(kernel: kernel, arch: arch, module: settings.module,
                                                     version: settings.moduleVersion, file: "\(dkmsTree)/\(m)/\(v)/source/dkms.conf")
                guard config.autoinstall else { continue }
            }
            console.errorLine("dkms: removing module \(m)/\(v) for kernel \(kernel) (\(arch))")
            let status = await subshell { () throws(DKMSError) -> Int32 in
                settings.module = m
                settings.moduleVersion = v
                try await unbuildAction()
                return 0
            }
            if status != 0 { failed += " \(m)/\(v)(\(status))" }
            if !onlyAutoinstall { console.line() }
        }
        let marker = "\(dkmsTree)/depmod-pending-\(kernel)-\(arch)"
        if FileSystem.existsNoFollow(marker) {
            FileSystem.removeFile(marker)
            // Upstream passes the function's (empty) first argument here.
            _ = await invokeCommand("do_depmod ", description: "Running depmod", log: nil, background: true) { target in
                await depmod(kernel: "", output: target)
            }
        }
        state.delayedDepmod = false
        let kernelDir = "\(installTree)/\(kernel)"
        if FileSystem.isDirectory(kernelDir) { FileSystem.deleteEmptyDirectories(under: kernelDir) }
        if !failed.isEmpty {
            throw DKMSError(14, "dkms \(action) for kernel \(kernel) (\(arch)) failed for module(s)\(failed).")
        }
    }
}
