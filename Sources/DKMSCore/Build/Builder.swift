/// Runs the steps of a ``BuildPlan`` that compile a module: copying the
/// source, patches, `PRE_BUILD`, the build command, checking the modules
/// exist, and later `POST_BUILD`. Each step runs in the build's sandbox when
/// there is one, with the build's own directory, log and console, so that
/// several builds can run at once. It changes nothing outside that
/// directory; signing and publishing belong to the caller.
struct Builder: Sendable {
    /// The plan.
    var plan: BuildPlan
    /// The directory that backs `plan.buildDirectory` for this build. It is
    /// `plan.buildDirectory` itself when there is no sandbox.
    var directory: String
    /// The sandbox, or nil to run commands directly.
    var sandbox: BuildSandbox?
    /// Runs the processes.
    var runner: any ProcessRunning
    /// Shows the steps.
    var presenter: CommandPresenter
    /// bash's `$0` for evaluated commands.
    var programName: String
    /// A directory put first on `PATH` (the jobserver's make wrapper).
    var pathPrefix: String?
    /// Other builds of the same module version use the canonical build
    /// directory as their mount point at the same time: it is left alone.
    var sharesMountPoint = false
    /// Where the build's directory, the source and the log are read and
    /// written (the build's own commands work on the disk).
    var fileSystem: any FileSystemAccess = LocalFileSystem()

    /// The log this build writes (in its own directory).
    var log: String { directory + "/make.log" }

    /// The file behind a path as the build's commands see it.
    func backingPath(_ path: String) -> String {
        let canonical = plan.buildDirectory
        if path == canonical { return directory }
        if path.hasPrefix(canonical + "/") { return directory + path.dropFirst(canonical.count) }
        return path
    }

    /// Fills the build directory with a fresh copy of the source and the
    /// patch overlay, and starts the log.
    func prepareDirectory() async {
        fileSystem.removeTree(directory)
        let source = fileSystem.canonicalPath(plan.sourceDirectory) ?? plan.sourceDirectory
        if !fileSystem.copyTree(from: source, to: directory) {
            fileSystem.removeTree(directory)
            _ = await runner.run(ProcessSpec("cp", ["--reflink=auto", "-a", plan.sourceDirectory + "/", directory],
                                             environment: plan.environment))
        }
        if let overlay = plan.patchOverlay, fileSystem.isDirectory(overlay) {
            fileSystem.makeDirectories(directory + "/patches")
            _ = await runner.run(ProcessSpec("cp", ["--reflink=auto", "-a", overlay + "/.", directory + "/patches/"],
                                             environment: plan.environment))
        }
        fileSystem.writeText(logHeader(), to: log, append: true)
    }

    /// The first two lines of make.log: what it is the log of, and when
    /// (with `note` after the date).
    private func logHeader(note: String = "") -> String {
        let target = plan.target
        return "DKMS (\(DKMSVersion.releaseString)) make.log for \(target.module)/\(target.version) for kernel \(target.kernel) (\(target.arch))\n"
            + DateText.date() + note + "\n"
    }

    /// Runs the build: prepares the directory and compiles, or on a
    /// cache hit fills the directory from the entry instead.
    func run(from entry: CacheEntry?) async throws(DKMSError) {
        if let entry {
            try await restore(from: entry)
        } else {
            await prepareDirectory()
            try await compile()
        }
    }

    /// A cache hit: the directory gets the entry's modules where the build
    /// would have left them, its `Module.symvers`, and a make.log that is
    /// the cached build's log with a header saying where it came from.
    ///
    /// The terminal shows the steps a build shows (patches, `PRE_BUILD`,
    /// the build command), as the cached build ran them, so default output
    /// stays upstream's; with `--verbose` each step says it comes from the
    /// cache. Nothing runs: within the sandbox those steps can change
    /// nothing but the build directory, whose result the entry holds.
    func restore(from entry: CacheEntry) async throws(DKMSError) {
        let target = plan.target
        let manifest = entry.manifest
        fileSystem.removeTree(directory)
        fileSystem.makeDirectories(directory)
        var cachedLog = (fileSystem.readText(entry.path(CacheManifest.logFile)) ?? "").split(separator: "\n", omittingEmptySubsequences: false)
        cachedLog = Array(cachedLog.dropFirst(min(2, cachedLog.count)))
        fileSystem.writeText(logHeader(note: " (modules from the module cache: entry \(manifest.key.hex), built \(DateText.date(manifest.created)))")
                             + cachedLog.joined(separator: "\n"), to: log)
        let note = "# from the module cache (entry \(manifest.key.short)): "
        for patch in plan.patches {
            _ = await presenter.invoke(note + "patch -p1 < ./patches/\(patch)", description: "Applying patch \(patch)",
                                       log: nil, background: true) { _ in 0 }
        }
        await showCachedScript(plan.preBuild, kind: .preBuild, note: note)
        var missing: BuildPlan.CollectedModule?
        _ = await presenter.invoke(note + plan.makeCommand, description: "Building module(s)", log: nil, background: true) { _ in
            for module in plan.modules {
                let destination = builtFile(module)
                guard fileSystem.makeDirectories(FileSystem.split(destination).directory),
                      fileSystem.copyFileAtomically(from: entry.path(CacheManifest.moduleFile(module.destName)), to: destination)
                else {
                    missing = module
                    return 1
                }
            }
            if manifest.file(CacheManifest.symversFile) != nil {
                fileSystem.copyFileAtomically(from: entry.path(CacheManifest.symversFile), to: directory + "/Module.symvers")
            }
            return 0
        }
        if let missing {
            throw DKMSError(.moduleNotBuilt, "Build of \(missing.builtFile) failed for: \(target.kernel) (\(target.arch))",
                            "Make sure the name and location of the generated module are correct,",
                            "or consult \(plan.logPath) for more information.")
        }
    }

    /// `POST_BUILD` after a cache hit: shown as the cached build ran it.
    func showCachedPostBuild(from entry: CacheEntry) async {
        await showCachedScript(plan.postBuild, kind: .postBuild, note: "# from the module cache (entry \(entry.manifest.key.short)): ")
    }

    /// Shows a script step of a cached build as a build shows it (the
    /// script resolved in the source, which the build directory copies).
    private func showCachedScript(_ script: BuildPlan.Script?, kind: ScriptKind, note: String) async {
        guard let script else { return }
        guard let resolved = resolve(script, isExecutable: { path in
            fileSystem.isExecutable(path.hasPrefix(plan.buildDirectory + "/")
                ? plan.sourceDirectory + path.dropFirst(plan.buildDirectory.count) : path)
        }) else {
            warnNotExecutable(kind)
            return
        }
        _ = await presenter.invoke(note + resolved.loggedCommand, description: "Running the \(kind.rawValue) script",
                                   log: nil, background: true) { _ in 0 }
    }

    /// Applies the patches, runs `PRE_BUILD` and the build command, and
    /// checks that every module was made.
    /// - Throws: ``DKMSError`` with upstream's status where a step fails.
    func compile() async throws(DKMSError) {
        try requireReachableByBuildUser()
        let target = plan.target
        let deadline = startBuildSteps()
        defer { finishBuildSteps() }
        for patch in plan.patches {
            if ("patches/" + patch).contains("/../") {
                throw DKMSError(.refusedPatchOrAlreadyInstalled, "Patch \(patch) as specified in dkms.conf contains '..' path component.")
            }
            if !fileSystem.exists("\(directory)/patches/\(patch)") {
                throw DKMSError(.refusedPatchOrAlreadyInstalled, "Patch \(patch) as specified in dkms.conf cannot be", "found in \(plan.buildDirectory)/patches/.")
            }
            let command = "patch -p1 < ./patches/\(patch)"
            var hit: BuildLimits.Kind?
            let status = await presenter.invoke(command, description: "Applying patch \(patch)", log: log, background: true) { target in
                await run(command, workingDirectory: plan.buildDirectory, output: target, deadline: deadline, limitHit: &hit)
            }
            try stopAtLimit(hit)
            if status != 0 {
                throw DKMSError(.patchOrInstallFailed, "Application of patch \(patch) failed.", "Consult \(plan.logPath) for more information.")
            }
        }
        try await runScript(plan.preBuild, kind: .preBuild, deadline: deadline)
        var hit: BuildLimits.Kind?
        let status = await presenter.invoke(plan.makeCommand, description: "Building module(s)", log: log, background: true) { target in
            await run(plan.makeCommand, workingDirectory: plan.buildDirectory, output: target, deadline: deadline, limitHit: &hit)
        }
        try stopAtLimit(hit)
        finishBuildSteps()
        if status != 0 {
            throw DKMSError(.buildFailed, "Bad return status for module build on kernel: \(target.kernel) (\(target.arch))",
                            "Consult \(plan.logPath) for more information.")
        }
        for module in plan.modules where !fileSystem.exists(builtFile(module)) {
            throw DKMSError(.moduleNotBuilt, "Build of \(module.builtFile) failed for: \(target.kernel) (\(target.arch))",
                            "Make sure the name and location of the generated module are correct,",
                            "or consult \(plan.logPath) for more information.")
        }
    }

    /// Runs `POST_BUILD`.
    func postBuild() async throws(DKMSError) {
        let deadline = startBuildSteps()
        defer { finishBuildSteps() }
        try await runScript(plan.postBuild, kind: .postBuild, deadline: deadline)
    }

    /// With an identity, the build user must be able to enter the build
    /// directory's tree and the kernel's headers (a tree kept in a private
    /// directory, such as one made by `mktemp -d` or under `/root`, would
    /// otherwise fail in make with "Permission denied").
    private func requireReachableByBuildUser() throws(DKMSError) {
        guard let identity = sandbox?.identity else { return }
        let headers = plan.shellVariables.first { $0.name == "kernel_source_dir" }?.value ?? ""
        for path in [FileSystem.split(plan.buildDirectory).directory, headers] where !path.isEmpty {
            guard let (directory, mode) = identity.barrier(to: path, fileSystem: fileSystem) else { continue }
            throw DKMSError(.buildFailed,
                "The build of \(plan.target) runs as \(identity) in its sandbox, which cannot enter \(directory) (mode 0\(String(mode, radix: 8))).",
                "Let that user reach the trees (for example: chmod o+x \(directory)), or build this module without the sandbox",
                "(BUILD_SANDBOX=no in /etc/dkms/\(plan.target.module).conf, or build_sandbox=no in framework.conf).")
        }
    }

    /// Before the build's steps: with an identity, the build's directory
    /// becomes the build user's. Returns the build's deadline.
    private func startBuildSteps() -> UInt64? {
        guard let sandbox else { return nil }
        if let identity = sandbox.identity { BuildHandOver.give(directory, to: identity, fileSystem: fileSystem) }
        guard sandbox.limits.timeSeconds > 0 else { return nil }
        return BuildMonitor.monotonicNanoseconds() + UInt64(sandbox.limits.timeSeconds) * 1_000_000_000
    }

    /// After the build's steps (no process of the build is left): root
    /// takes the directory back, without links out of it, special files
    /// or setuid bits, before anything reads or publishes its results.
    private func finishBuildSteps() {
        guard sandbox?.identity != nil else { return }
        BuildHandOver.takeBack(directory, fileSystem: fileSystem)
    }

    /// Ends the build with the error of the limit it met.
    private func stopAtLimit(_ hit: BuildLimits.Kind?) throws(DKMSError) {
        guard let hit, let sandbox else { return }
        fileSystem.writeText("\n# stopped by dkms: \(sandbox.limits.describe(hit)) reached\n", to: log, append: true)
        throw sandbox.limits.exceeded(hit, target: plan.target, log: plan.logPath)
    }

    /// Removes the build's directory after a successful build (upstream
    /// removes `build`).
    func removeDirectory() {
        fileSystem.removeTree(directory)
        if directory != plan.buildDirectory && !sharesMountPoint {
            fileSystem.removeTree(plan.buildDirectory)
        }
    }

    /// After a failure, the build's directory becomes the canonical build
    /// directory, as upstream leaves it.
    func settleAsCanonical() {
        guard directory != plan.buildDirectory else { return }
        fileSystem.removeTree(plan.buildDirectory)
        if !fileSystem.rename(directory, to: plan.buildDirectory) {
            fileSystem.removeTree(directory)
        }
    }

    /// Where the build left a module (in this build's directory).
    func builtFile(_ module: BuildPlan.CollectedModule) -> String {
        module.builtFile.hasPrefix("/") ? module.builtFile : "\(directory)/\(module.builtFile)"
    }

    /// Upstream's `run_build_script` with a log: a failure ends the build
    /// with the script's own status.
    private func runScript(_ script: BuildPlan.Script?, kind: ScriptKind, deadline: UInt64?) async throws(DKMSError) {
        guard let script else { return }
        guard let resolved = resolve(script, isExecutable: { fileSystem.isExecutable(backingPath($0)) }) else {
            warnNotExecutable(kind)
            return
        }
        let command = resolved.loggedCommand
        var hit: BuildLimits.Kind?
        let status = await presenter.invoke(command, description: "Running the \(kind.rawValue) script", log: log, background: true) { target in
            await run(command, workingDirectory: nil, output: target, deadline: deadline, limitHit: &hit)
        }
        try stopAtLimit(hit)
        if status != 0 {
            presenter.console.line("Consult \(plan.logPath) for more information.")
            throw DKMSError.exit(status)
        }
    }

    /// Resolves a dkms.conf script as the build directory holds it.
    private func resolve(_ script: BuildPlan.Script, isExecutable: (String) -> Bool) -> ScriptResolution? {
        ScriptResolution.resolve(script.command, in: plan.buildDirectory, overrideDirectory: script.overrideDirectory,
                                 isExecutable: isExecutable)
    }

    /// Upstream's warning for a script that cannot run.
    private func warnNotExecutable(_ kind: ScriptKind) {
        presenter.console.line()
        presenter.console.warning("The \(kind.rawValue) script is not executable.")
    }

    /// Runs a command string of the build, in the sandbox when there is
    /// one, under its watcher and monitor; `limitHit` tells which limit
    /// stopped it.
    private func run(_ command: String, workingDirectory: String?, output: CommandOutput,
                     deadline: UInt64?, limitHit: inout BuildLimits.Kind?) async -> Int32 {
        var environment = plan.environment
        if let pathPrefix { environment["PATH"] = pathPrefix + ":" + (environment["PATH"] ?? "/usr/bin:/bin") }
        var spec = ShellCommand.spec(command, variables: plan.shellVariables, environment: environment,
                                     programName: programName, workingDirectory: workingDirectory,
                                     output: output.output, error: output.error)
        guard let sandbox else { return await runner.run(spec).status }
        guard let lifeline = Lifeline(), let infoFile = fileSystem.makeTemporaryFile(template: "/tmp/.dkms-sandbox.XXXXXX") else {
            // A sandboxed build never runs outside its sandbox: the step fails.
            fileSystem.writeText("# dkms: the sandbox could not be prepared (no socket pair, or no file in /tmp); the step was not run\n",
                                 to: log, append: true)
            return 126
        }
        defer { fileSystem.removeFile(infoFile) }
        if let deadline, BuildMonitor.monotonicNanoseconds() >= deadline {
            limitHit = .time
            return 124
        }
        spec = sandbox.wrap(spec, buildDirectory: plan.buildDirectory, backing: directory, infoFile: infoFile, fileSystem: fileSystem)
        spec.input = .fileDescriptor(lifeline.readEnd)
        let monitor = BuildMonitor(limits: sandbox.limits, deadline: deadline, infoFile: infoFile, fileSystem: fileSystem)
        let watching = Task { await monitor.watch(lifeline) }
        let status = await runner.run(spec).status
        watching.cancel()
        limitHit = await watching.value
        lifeline.cut()
        return status
    }
}
