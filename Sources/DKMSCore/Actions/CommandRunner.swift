#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How an invocation ended, for the CLI to render.
package enum RunResult: Sendable, Equatable {
    /// Exit with this status.
    case exit(Int32)
    /// No action was named: upstream reports it, shows the usage and exits 0.
    case unknownAction
    /// `status --json`: the entries and the recorded autoinstall failures,
    /// for the CLI to render.
    case statusEntries([StatusEntry], failures: [AutoinstallFailure], cache: CacheReport)
}

struct CommandRunner: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// Takes the tree lock (unless an ancestor dkms holds it: see
    /// ``InheritedLock``) and finishes transactions an interrupted command
    /// left behind.
    func lockTree() async {
        let lock = TreeLock(dkmsTree: engine.dkmsTree)
        if ancestorHoldsTreeLock(lock) {
            lock.join()
            // The holder may have been releasing the lock meanwhile.
            if ancestorHoldsTreeLock(lock) {
                engine.transaction.lock = lock
                engine.transaction.nested = true
                return
            }
            lock.release()
        }
        let tree = engine.dkmsTree
        guard lock.acquire(waiting: { pid in
            console.errorLine("dkms: waiting for the lock on \(tree) held by process \(pid)...")
        }) else { return }
        engine.transaction.lock = lock
        engine.scope.environment[TreeLock.heldVariable] = InheritedLock.value(for: getpid(), fileSystem: engine.fileSystem)
        // Only the holder settles the journal: a nested dkms (a build
        // job, a script calling dkms) must not touch its parent's
        // transaction in progress.
        await engine.recoverInterruptedTransactions()
    }

    /// Whether `DKMS_TREE_LOCK_HELD` names an ancestor of this process that
    /// holds `lock` now (``InheritedLock``). Never waits.
    func ancestorHoldsTreeLock(_ lock: TreeLock) -> Bool {
        guard let value = settings.environment[TreeLock.heldVariable] else { return false }
        return InheritedLock.trusts(value, lockHolder: lock.busyHolder(), pid: getpid(), fileSystem: engine.fileSystem)
    }

    /// Upstream's `setup_kernels_arches`: `--all` expands to the built
    /// kernels, the running kernel and machine are the defaults, and a
    /// single arch applies to every kernel.
    func setupKernelsAndArches() async throws(DKMSError) {
        let isStatus = settings.action == .status
        if settings.all && !isStatus {
            let lines = engine.tree.builtEntries(engine.scope.module, engine.scope.version).map {
                "\($0.state.rawValue) \(engine.scope.module)/\(engine.scope.version)/\($0.kernel)/\($0.arch)"
            }
            for line in VersionSort.sorted(lines) {
                var rest = Substring(line)
                for _ in 0..<2 { if let slash = rest.firstIndex(of: "/") { rest = rest[rest.index(after: slash)...] } }
                let kernelPart = rest.lastIndex(of: "/").map { String(rest[..<$0]) } ?? String(rest)
                let archPart = rest.firstIndex(of: "/").map { String(rest[rest.index(after: $0)...]) } ?? String(rest)
                engine.settings.kernels.append(kernelPart)
                engine.settings.arches.append(archPart)
            }
        }
        engine.settings.kernelsFromCommandLine = engine.settings.kernels.count
        if settings.allKernels && settings.action == .autoinstall && settings.kernels.isEmpty {
            engine.settings.kernels = InstalledKernels.forAutoinstall(installTree: engine.installTree, fleet: engine.kernels.inputs.fleetConfigured,
                                                               bootDirectory: engine.kernels.inputs.bootDirectory, fileSystem: engine.fileSystem)
        }
        if !isStatus {
            if engine.settings.kernels.isEmpty && !engine.settings.all { engine.settings.kernels = KernelChoice(engine: engine).defaultKernels() }
            if engine.settings.arches.isEmpty { engine.settings.arches = [await defaultArch(for: engine.settings.kernels.first ?? "")] }
            if settings.arches.isEmpty || settings.arches[0].isEmpty && !settings.isDebianLike && settings.machine.isEmpty {
                throw DKMSError(.unknownArchitecture, "Could not determine architecture.")
            }
        }
        if settings.arches.count == 1 && settings.kernels.count > 1 {
            while engine.settings.arches.count < engine.settings.kernels.count { engine.settings.arches.append(engine.settings.arches[0]) }
        }
        if !isStatus {
            for (index, kernel) in settings.kernels.enumerated() where kernel.isEmpty {
                throw DKMSError(.emptyKernelOrArch, "Empty kernelver[\(index)]")
            }
            for (index, arch) in settings.arches.enumerated() where arch.isEmpty {
                throw DKMSError(.emptyKernelOrArch, "Empty arch[\(index)]")
            }
        }
    }

    /// The default architecture: `uname -m`, or on rpm systems the arch of
    /// the package owning the kernel's module directory.
    func defaultArch(for kernel: String) async -> String {
        if settings.isDebianLike || !engine.commandExists("rpm") { return settings.machine }
        let owner = await engine.run("rpm", ["-qf", "\(engine.installTree)/\(kernel)"], output: .capture, error: .discard)
        let package = owner.outputText.split(separator: "\n")
            .first { !$0.contains("not owned by any package") && $0.contains("kernel") }.map(String.init) ?? ""
        let query = await engine.run("rpm", ["-q", "--queryformat", "%{ARCH}", package], output: .capture, error: .discard)
        if query.status == 0 { return query.outputText }
        return settings.machine
    }

    /// Runs the invocation: validation, kernel setup and the action
    /// (``run()`` wraps it).
    /// - Returns: how dkms ends.
    /// - Throws: ``DKMSError`` where upstream dies in its main shell.
    func runAction() async throws(DKMSError) -> RunResult {
        try engine.validateCommandLine()
        if engine.settings.parallelJobs.isEmpty { engine.settings.parallelJobs = String(Self.processorCount()) }
        if engine.settings.parallelJobs == "0" { engine.settings.parallelJobs = "" }
        if let action = settings.action, action.isKernelHook { try engine.requireOneKernel(action.rawValue) }
        try await setupKernelsAndArches()
        guard let action = settings.action else { return .unknownAction }
        if settings.dryRun && action != .status {
            switch action {
            case .build, .install, .uninstall, .unbuild, .remove:
                try engine.requireModuleArguments(action.rawValue)
                if action != .build && action != .install { try engine.requireAdded() }
            case .autoinstall:
                if !engine.shared.kernelsChosenForRoot { try engine.requireOneKernelUnlessAllKernels(action.rawValue) }
            case .kernelPreinst, .kernelPostinst, .kernelPrerm:
                if !engine.shared.kernelsChosenForRoot { try engine.requireOneKernel(action.rawValue) }
            default: break
            }
            KernelChoice(engine: engine).announceChosenKernels()
            return .exit(await engine.readingCommittedState { await DryRun(engine: $0).plan(action) })
        }
        if action != .status && !(action == .cache && CacheAction.cacheReadsOnly(settings.actionArguments)) { await lockTree() }
        InitramfsWatch(engine: engine).beginInitramfsWatch(action)
        let command = action.command(in: engine)
        try command.checkRequirements()
        return try await command.run()
    }

    /// `execute_post_transaction`: runs framework.conf's `post_transaction`
    /// after a successful change, logging to `$dkms_tree/post_transaction.log`.
    func postTransaction() async {
        guard !settings.postTransaction.isEmpty else { return }
        let log = "\(engine.dkmsTree)/post_transaction.log"
        engine.fileSystem.writeText("", to: log)
        var command = settings.postTransaction
        let globals = engine.shellGlobals(kernel: engine.firstKernel, arch: engine.firstArch, module: engine.scope.module, version: engine.scope.version)
        if let values = await FrameworkFiles.read(names: ["post_transaction"], globals: globals + [("post_transaction", ShellArray(scalar: command))],
                                                  environment: engine.childEnvironment, runner: engine.runner), values.isSet("post_transaction") {
            command = values["post_transaction"].value
        }
        _ = await engine.invokeCommand(command, description: "Executing post-transaction command", log: log, background: true) { target in
            await engine.evaluate(command, kernel: engine.firstKernel, arch: engine.firstArch, module: engine.scope.module, version: engine.scope.version,
                           output: target.output, error: target.error).status
        }
    }

    /// The number of processors (`nproc`).
    static func processorCount() -> Int {
        Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    /// Runs the action, then regenerates the initramfs it made stale,
    /// whether the action succeeded or failed part-way.
    package func run() async throws(DKMSError) -> RunResult {
        do {
            let result = try await runAction()
            await InitramfsWatch(engine: engine).finishInitramfsWatch()
            trimCacheAfterFetches()
            // Releasing waits for the nested commands still running.
            engine.transaction.lock?.release()
            return result
        } catch {
            await InitramfsWatch(engine: engine).finishInitramfsWatch()
            trimCacheAfterFetches()
            engine.transaction.lock?.release()
            throw error
        }
    }

    /// Keeps the local cache within `build_cache_size` after builds were
    /// fetched into it (a fresh build is trimmed as it is stored), so that
    /// a fleet client's cache stays bounded too. Least recently used first.
    func trimCacheAfterFetches() {
        guard engine.transaction.fetchedIntoCache else { return }
        engine.transaction.fetchedIntoCache = false
        let cache = BuildCacheLookup(engine: engine).localCache
        let evicted = cache.evict(toAtMost: settings.buildCacheSize)
        if !evicted.isEmpty { cache.count(["evicted": evicted.count]) }
    }
}
