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

extension Engine {
    /// Takes the tree lock (unless an ancestor dkms holds it: see
    /// ``InheritedLock``) and finishes transactions an interrupted command
    /// left behind.
    func lockTree() async {
        let lock = TreeLock(dkmsTree: dkmsTree)
        if ancestorHoldsTreeLock(lock) {
            lock.join()
            // The holder may have been releasing the lock meanwhile.
            if ancestorHoldsTreeLock(lock) {
                transaction.lock = lock
                transaction.nested = true
                return
            }
            lock.release()
        }
        let tree = dkmsTree
        guard lock.acquire(waiting: { pid in
            console.errorLine("dkms: waiting for the lock on \(tree) held by process \(pid)...")
        }) else { return }
        transaction.lock = lock
        scope.environment[TreeLock.heldVariable] = InheritedLock.value(for: getpid(), fileSystem: fileSystem)
        // Only the holder settles the journal: a nested dkms (a build
        // job, a script calling dkms) must not touch its parent's
        // transaction in progress.
        await recoverInterruptedTransactions()
    }

    /// Whether `DKMS_TREE_LOCK_HELD` names an ancestor of this process that
    /// holds `lock` now (``InheritedLock``). Never waits.
    func ancestorHoldsTreeLock(_ lock: TreeLock) -> Bool {
        guard let value = settings.environment[TreeLock.heldVariable] else { return false }
        return InheritedLock.trusts(value, lockHolder: lock.busyHolder(), pid: getpid(), fileSystem: fileSystem)
    }

    /// Upstream's `setup_kernels_arches`: `--all` expands to the built
    /// kernels, the running kernel and machine are the defaults, and a
    /// single arch applies to every kernel.
    func setupKernelsAndArches() async throws(DKMSError) {
        let isStatus = settings.action == .status
        if settings.all && !isStatus {
            let lines = tree.builtEntries(scope.module, scope.version).map {
                "\($0.state.rawValue) \(scope.module)/\(scope.version)/\($0.kernel)/\($0.arch)"
            }
            for line in VersionSort.sorted(lines) {
                var rest = Substring(line)
                for _ in 0..<2 { if let slash = rest.firstIndex(of: "/") { rest = rest[rest.index(after: slash)...] } }
                let kernelPart = rest.lastIndex(of: "/").map { String(rest[..<$0]) } ?? String(rest)
                let archPart = rest.firstIndex(of: "/").map { String(rest[rest.index(after: $0)...]) } ?? String(rest)
                settings.kernels.append(kernelPart)
                settings.arches.append(archPart)
            }
        }
        settings.kernelsFromCommandLine = settings.kernels.count
        if settings.allKernels && settings.action == .autoinstall && settings.kernels.isEmpty {
            settings.kernels = InstalledKernels.forAutoinstall(installTree: installTree, fleet: kernels.inputs.fleetConfigured,
                                                               bootDirectory: kernels.inputs.bootDirectory, fileSystem: fileSystem)
        }
        if !isStatus {
            if settings.kernels.isEmpty && !settings.all { settings.kernels = defaultKernels() }
            if settings.arches.isEmpty { settings.arches = [await defaultArch(for: settings.kernels.first ?? "")] }
            if settings.arches.isEmpty || settings.arches[0].isEmpty && !settings.isDebianLike && settings.machine.isEmpty {
                throw DKMSError(.unknownArchitecture, "Could not determine architecture.")
            }
        }
        if settings.arches.count == 1 && settings.kernels.count > 1 {
            while settings.arches.count < settings.kernels.count { settings.arches.append(settings.arches[0]) }
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
        if settings.isDebianLike || !commandExists("rpm") { return settings.machine }
        let owner = await run("rpm", ["-qf", "\(installTree)/\(kernel)"], output: .capture, error: .discard)
        let package = owner.outputText.split(separator: "\n")
            .first { !$0.contains("not owned by any package") && $0.contains("kernel") }.map(String.init) ?? ""
        let query = await run("rpm", ["-q", "--queryformat", "%{ARCH}", package], output: .capture, error: .discard)
        if query.status == 0 { return query.outputText }
        return settings.machine
    }

    /// Runs the invocation: validation, kernel setup and the action
    /// (``run()`` wraps it).
    /// - Returns: how dkms ends.
    /// - Throws: ``DKMSError`` where upstream dies in its main shell.
    func runAction() async throws(DKMSError) -> RunResult {
        try validateCommandLine()
        if settings.parallelJobs.isEmpty { settings.parallelJobs = String(Self.processorCount()) }
        if settings.parallelJobs == "0" { settings.parallelJobs = "" }
        if let action = settings.action, action.isKernelHook { try requireOneKernel(action.rawValue) }
        try await setupKernelsAndArches()
        guard let action = settings.action else { return .unknownAction }
        if settings.dryRun && action != .status {
            switch action {
            case .build, .install, .uninstall, .unbuild, .remove:
                try requireModuleArguments(action.rawValue)
                if action != .build && action != .install { try requireAdded() }
            case .autoinstall:
                if !shared.kernelsChosenForRoot { try requireOneKernelUnlessAllKernels(action.rawValue) }
            case .kernelPreinst, .kernelPostinst, .kernelPrerm:
                if !shared.kernelsChosenForRoot { try requireOneKernel(action.rawValue) }
            default: break
            }
            announceChosenKernels()
            return .exit(await readingCommittedState { await $0.plan(action) })
        }
        if action != .status && !(action == .cache && Self.cacheReadsOnly(settings.actionArguments)) { await lockTree() }
        beginInitramfsWatch(action)
        switch action {
        case .remove, .unbuild, .uninstall:
            try requireModuleArguments(action.rawValue)
            try refuseBroken()
            try requireAdded()
            if action == .uninstall { try requireRoot() } else { try requireWritableTree() }
            switch action {
            case .remove: try await removeAction()
            case .unbuild: try await unbuildAction()
            default: try await uninstallAction()
            }
            await postTransaction()
            return .exit(0)
        case .add, .build, .install:
            try banAll(action.rawValue)
            if action != .add { try refuseBroken() }
            if action == .install { try requireRoot() } else { try requireWritableTree() }
            var status: Int32 = 0
            switch action {
            case .add:
                status = try await addModule()
            case .build:
                if await canBuildKernelsConcurrently() {
                    status = await buildForKernelsConcurrently(install: false)
                } else {
                    for (kernel, arch) in kernelArchPairs {
                        status = await buildIfNeeded(module: scope.module, version: scope.version, kernel: kernel, arch: arch)
                    }
                }
            default:
                if await canBuildKernelsConcurrently() {
                    status = await buildForKernelsConcurrently(install: true)
                } else {
                    for (kernel, arch) in kernelArchPairs {
                        status = await installIfNeeded(module: scope.module, version: scope.version, kernel: kernel, arch: arch)
                    }
                }
                if status == 0 { await postTransaction() }
            }
            return .exit(status)
        case .status:
            if settings.jsonOutput {
                return .statusEntries(await readingCommittedState { await $0.statusEntries() }, failures: statusFailures(), cache: cacheReportText.report())
            }
            await readingCommittedState { await $0.statusAction() }
            return .exit(0)
        case .generateMok:
            await readSigningFramework(kernel: firstKernel, arch: firstArch, module: scope.module, version: scope.version)
            return .exit(await prepareMOK(kernel: firstKernel) ? 0 : 1)
        case .mkbmdeb:
            try requireModuleArguments("mkbmdeb")
            try refuseBroken()
            try requireAdded()
            try await makeBinaryPackages()
            return .exit(0)
        case .fsck:
            try requireRoot()
            await fsck()
            return .exit(0)
        case .cache:
            return .exit(try await cacheAction(settings.actionArguments))
        case .autoinstall, .match, .mktarball, .ldtarball, .kernelPreinst, .kernelPostinst, .kernelPrerm:
            return try await runIntegrationAction(action)
        }
    }

    /// `execute_post_transaction`: runs framework.conf's `post_transaction`
    /// after a successful change, logging to `$dkms_tree/post_transaction.log`.
    func postTransaction() async {
        guard !settings.postTransaction.isEmpty else { return }
        let log = "\(dkmsTree)/post_transaction.log"
        fileSystem.writeText("", to: log)
        var command = settings.postTransaction
        let globals = shellGlobals(kernel: firstKernel, arch: firstArch, module: scope.module, version: scope.version)
        if let values = await FrameworkFiles.read(names: ["post_transaction"], globals: globals + [("post_transaction", ShellArray(scalar: command))],
                                                  environment: childEnvironment, runner: runner), values.isSet("post_transaction") {
            command = values["post_transaction"].value
        }
        _ = await invokeCommand(command, description: "Executing post-transaction command", log: log, background: true) { target in
            await evaluate(command, kernel: firstKernel, arch: firstArch, module: scope.module, version: scope.version,
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
            await finishInitramfsWatch()
            trimCacheAfterFetches()
            // Releasing waits for the nested commands still running.
            transaction.lock?.release()
            return result
        } catch {
            await finishInitramfsWatch()
            trimCacheAfterFetches()
            transaction.lock?.release()
            throw error
        }
    }

    /// Keeps the local cache within `build_cache_size` after builds were
    /// fetched into it (a fresh build is trimmed as it is stored), so that
    /// a fleet client's cache stays bounded too. Least recently used first.
    func trimCacheAfterFetches() {
        guard transaction.fetchedIntoCache else { return }
        transaction.fetchedIntoCache = false
        let cache = localCache
        let evicted = cache.evict(toAtMost: settings.buildCacheSize)
        if !evicted.isEmpty { cache.count(["evicted": evicted.count]) }
    }
}
