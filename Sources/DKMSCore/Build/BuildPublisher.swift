/// Finishes a build outside its sandbox: strips, signs (with the
/// machine's key) and compresses the modules, publishes them atomically in
/// `m/v/K/A`, runs POST_BUILD, keeps the log and removes the build
/// directory; or, after a failure, leaves what upstream leaves.
struct BuildPublisher {
    /// The dkms tree.
    var tree: DKMSTree
    /// Runs strip, sign-file and the compressor.
    var runner: any ProcessRunning
    /// Where publishing speaks (signing lines, warnings).
    var console: any Console
    /// The cache a fresh build is stored into (before signing and
    /// compression), with its size bound; nil to store nothing.
    var cache: (store: LocalCache, limit: Int)?

    /// Where the tree is written: the tree's own file system.
    var fileSystem: any FileSystemAccess { tree.fileSystem }

    /// Strips, signs and compresses the modules a build made (outside its
    /// sandbox, with the machine's key), publishes them atomically in
    /// `m/v/K/A`, runs `POST_BUILD`, keeps the log, and removes the build
    /// directory.
    func publish(_ planned: PlannedBuild, builder: Builder) async throws(DKMSError) {
        let plan = planned.plan
        let target = plan.target
        let (module, version, kernel, arch) = (target.module, target.version, target.kernel, target.arch)
        let kernelDir = tree.kernelDirectory(module, version, kernel)
        let baseDir = tree.builtDirectory(module, version, kernel, arch)
        let directory = builder.directory
        let suffix = ".ko" + (plan.compression?.suffix ?? "")
        fileSystem.makeDirectories(kernelDir)
        guard let temporary = fileSystem.makeTemporaryDirectory(template: "\(kernelDir)/.tmp_\(arch)_XXXXXX") else {
            throw DKMSError(.notPermittedOrMissingArguments, "Unable to make temporary directory.")
        }
        fileSystem.makeDirectories(temporary + "/log")
        fileSystem.makeDirectories(temporary + "/module")
        if fileSystem.isRegularFile(directory + "/Module.symvers") {
            fileSystem.copyFileAtomically(from: directory + "/Module.symvers", to: temporary + "/module/Module.symvers")
        }
        let fromCache = planned.cache.entry != nil
        if !fromCache {
            for entry in plan.modules where entry.strip && fileSystem.isRegularFile(builder.builtFile(entry)) {
                _ = await runner.run(ProcessSpec(plan.stripTool, ["-g", builder.builtFile(entry)], environment: plan.environment,
                                                 workingDirectory: directory))
            }
            store(planned, builder: builder)
        }
        for entry in plan.modules {
            let built = builder.builtFile(entry)
            let shown = entry.builtFile.hasPrefix("/") ? entry.builtFile : "\(plan.buildDirectory)/\(entry.builtFile)"
            var compressed = builder.backingPath(shown.dropLast(3) + suffix)
            guard fileSystem.isRegularFile(built) else {
                console.warning("\(shown) has disappeared")
                continue
            }
            if plan.sign, let signer = planned.signer {
                await signer.sign(built, shownAs: shown, console: console, runner: runner, environment: plan.environment)
            }
            if let compression = plan.compression {
                let status = await runner.run(ProcessSpec(compression.tool, compression.options + ["-f", built],
                                                          environment: plan.environment, workingDirectory: directory)).status
                if status != 0 { compressed = "" }
            }
            if !compressed.isEmpty && plan.compression != nil {
                fileSystem.copyFileAtomically(from: compressed, to: "\(temporary)/module/\(entry.destName)\(suffix)")
            } else {
                fileSystem.copyFileAtomically(from: built, to: "\(temporary)/module/\(entry.destName).ko")
            }
        }
        for entry in plan.modules {
            let found = Engine.compressedOrUncompressed(temporary + "/module", entry.destName, suffix: plan.compression?.suffix ?? "",
                                                        exists: fileSystem.exists)
            if found.isEmpty || !fileSystem.isRegularFile(found) {
                throw DKMSError(.moduleNotBuilt, "Missing module '\(entry.destName)' in \(temporary)/module")
            }
        }
        fileSystem.setMode(0o755, of: temporary)
        if !fileSystem.rename(temporary, to: baseDir) {
            throw DKMSError(.moduleNotBuilt, "do_build: final mv failed (1)")
        }

        if let entry = planned.cache.entry {
            await builder.showCachedPostBuild(from: entry)
        } else {
            try await builder.postBuild()
        }
        fileSystem.rename(builder.log, to: baseDir + "/log/make.log")
        retainLog(baseDir + "/log/make.log", of: target)
        builder.removeDirectory()

        if planned.writesDependencyMarkers {
            for dependency in planned.config.buildDepends {
                let versions = tree.status(module: dependency, kernel: kernel, arch: arch).map(\.version)
                if let latest = VersionSort.sorted(versions).last, !latest.isEmpty {
                    fileSystem.writeText(latest + "\n", to: "\(baseDir)/.dep_\(dependency)")
                }
            }
        }
    }

    /// Stores a fresh build's stripped, unsigned modules, its
    /// `Module.symvers` and its log in the cache, then keeps the cache
    /// within its bound. A build whose modules are not all there is not stored.
    private func store(_ planned: PlannedBuild, builder: Builder) {
        guard let (cache, limit) = self.cache, let key = planned.cache.key else { return }
        var files: [(name: String, source: String)] = []
        for entry in planned.plan.modules {
            let built = builder.builtFile(entry)
            guard fileSystem.isRegularFile(built) else { return }
            files.append((CacheManifest.moduleFile(entry.destName), built))
        }
        if fileSystem.isRegularFile(builder.directory + "/Module.symvers") {
            files.append((CacheManifest.symversFile, builder.directory + "/Module.symvers"))
        }
        if fileSystem.isRegularFile(builder.log) { files.append((CacheManifest.logFile, builder.log)) }
        if cache.store(key: key, target: planned.plan.target, files: files) != nil {
            if let record = planned.cache.lookupRecord { cache.record(record) }
            let evicted = cache.evict(toAtMost: limit)
            cache.count(["stored": 1, "evicted": evicted.count].filter { $0.value > 0 })
        }
    }

    /// After a failed build: the build directory holds what upstream leaves
    /// there (this build's files and make.log), and the log is kept per kernel.
    /// A build that shares its mount point with others running at once
    /// is settled by ``settleSharedBuilds(_:)`` once they have all ended.
    func settleFailure(of builder: Builder) {
        let target = builder.plan.target
        let kept = fileSystem.exists(builder.log) ? builder.log
            : tree.builtDirectory(target.module, target.version, target.kernel, target.arch) + "/log/make.log"
        retainLog(kept, of: target)
        if !builder.sharesMountPoint { builder.settleAsCanonical() }
    }

    /// Keeps a copy of a build's log at ``DKMSTree/retainedLog(_:_:_:_:)``.
    func retainLog(_ source: String, of target: BuildPlan.Target) {
        let kept = tree.retainedLog(target.module, target.version, target.kernel, target.arch)
        guard fileSystem.isRegularFile(source), fileSystem.makeDirectories(FileSystem.split(kept).directory) else { return }
        fileSystem.copyFileAtomically(from: source, to: kept)
    }
}
