#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `dkms add`: puts a module version's source into the tree (from
/// `/usr/src/NAME-VERSION`, a directory or an archive).
struct AddAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {
        try engine.banAll(Action.add.rawValue)
        try engine.requireWritableTree()
    }

    /// - Returns: the status of the post_add script (0 without one).
    func run() async throws(DKMSError) -> RunResult {
        .exit(try await addModule())
    }


    /// Upstream's `add_module` for `scope.module`/`scope.version`
    /// (after loading a source tree or tarball given on the command line).
    /// - Returns: the exit status of the post_add script (0 without one),
    ///   which upstream's `add` exits with.
    @discardableResult
    func addModule(kernel: String? = nil, arch: String? = nil) async throws(DKMSError) -> Int32 {
        let kernel = kernel ?? engine.firstKernel
        let arch = arch ?? engine.firstArch
        if !settings.archive.isEmpty && engine.scope.module.isEmpty && engine.scope.version.isEmpty {
            try await LoadTarballAction(engine: engine).loadTarball()
        } else if !settings.sourceTreeArgument.isEmpty && engine.scope.module.isEmpty && engine.scope.version.isEmpty {
            try await addSourceTree(settings.sourceTreeArgument, kernel: kernel, arch: arch)
        }
        try engine.requireModuleArguments("add")
        let module = engine.scope.module
        let version = engine.scope.version
        if settings.rpmSafeUpgrade { await recordRPMSafeUpgrade(module: module, version: version) }
        if engine.tree.isAdded(module, version) {
            throw DKMSError(.alreadyThereOrMissingFromTree, "DKMS tree already contains: \(module)/\(version)",
                            "You cannot add the same module/version combo more than once.")
        }
        let sourceDirectory = "\(engine.sourceTree)/\(module)-\(version)"
        let sourceConf = settings.conf.isEmpty ? sourceDirectory + "/dkms.conf" : settings.conf
        guard fileSystem.isDirectory(sourceDirectory) else {
            throw DKMSError(.notFoundOrConflictingKernels, "Could not find module source directory.", "Directory: \(sourceDirectory) does not exist.")
        }
        try engine.refuseUnsafeModuleNames(module: module, version: version)
        let config = try await ConfReader(engine: engine).readConfOrDie(
            kernel: kernel, arch: arch, module: module, version: version, file: sourceConf, strict: true)
        console.line("Creating symlink \(engine.tree.sourceDirectory(module, version)) -> \(sourceDirectory)")
        createVersionDirectory(module: module, version: version, source: sourceDirectory)
        return try await engine.runScript(.postAdd, config.script(.postAdd), module: module, version: version,
                                   kernel: kernel, arch: arch)
    }

    /// `maybe_add_module`.
    func addIfNeeded(module: String, version: String) async -> Int32 {
        if engine.tree.isAdded(module, version) {
            console.line("Module \(module)/\(version) already added.")
            return 0
        }
        return await engine.subshell { shell throws(DKMSError) -> Int32 in
            shell.scope.module = module
            shell.scope.version = version
            try await AddAction(engine: shell).addModule()
            return 0
        }
    }

    /// Upstream's `add_source_tree`: copies a directory holding a
    /// dkms.conf to `$source_tree/NAME-VERSION` and sets module/version.
    func addSourceTree(_ path: String, kernel: String, arch: String) async throws(DKMSError) {
        let from = fileSystem.canonicalPath(path) ?? ""
        guard !from.isEmpty, fileSystem.isRegularFile(from + "/dkms.conf") else {
            throw DKMSError(.missingConfOrPermission, "\(path) must contain a dkms.conf file!")
        }
        try engine.requireRoot()
        let conf = from + "/dkms.conf"
        let config = try await ConfReader(engine: engine).readConfOrDie(kernel: kernel, arch: arch, module: "", version: "", file: conf)
        guard !config.packageName.isEmpty, !config.packageVersion.isEmpty else {
            throw DKMSError(.buildFailed, "Malformed dkms.conf file. Cannot load source tree.")
        }
        engine.scope.module = config.packageName
        engine.scope.version = config.packageVersion
        let destination = "\(engine.sourceTree)/\(engine.scope.module)-\(engine.scope.version)"
        if engine.scope.force && fileSystem.isDirectory(destination) {
            console.errorLine()
            console.line("Forcing install of \(engine.scope.module)/\(engine.scope.version)")
            fileSystem.removeTree(destination)
        }
        let own = [destination, engine.tree.sourceDirectory(engine.scope.module, engine.scope.version),
                   engine.tree.buildDirectory(engine.scope.module, engine.scope.version)]
        if own.contains(from) { return }
        // A new copy is made under a temporary name and renamed into place,
        // so an interrupted add never leaves a half-copied source tree.
        if !fileSystem.existsNoFollow(destination),
           let staging = fileSystem.makeTemporaryDirectory(template: "\(engine.sourceTree)/.tmp_\(engine.scope.module)-\(engine.scope.version)_XXXXXX") {
            _ = await engine.run("cp", ["--reflink=auto", "-fprT", from + "/", staging])
            if fileSystem.rename(staging, to: destination) { return }
            fileSystem.removeTree(staging)
        }
        fileSystem.makeDirectories(destination)
        _ = await engine.run("cp", ["--reflink=auto", "-fprT", from + "/", destination])
    }

    /// Creates `m/v` with its `build` directory and `source` link in one
    /// step: everything is prepared under a hidden temporary name in `m/`
    /// and renamed into place.
    func createVersionDirectory(module: String, version: String, source: String) {
        let moduleDir = engine.tree.moduleDirectory(module)
        let versionDir = "\(moduleDir)/\(version)"
        if !fileSystem.existsNoFollow(versionDir), fileSystem.makeDirectories(moduleDir),
           let staging = fileSystem.makeTemporaryDirectory(template: "\(moduleDir)/.tmp_add_XXXXXX") {
            fileSystem.setMode(0o755, of: staging)
            fileSystem.makeDirectories(staging + "/build")
            fileSystem.symlink(target: source, at: staging + "/source")
            if fileSystem.rename(staging, to: versionDir) { return }
            fileSystem.removeTree(staging)
        }
        fileSystem.makeDirectories(versionDir + "/build")
        fileSystem.symlink(target: source, at: versionDir + "/source")
    }

    /// `--rpm_safe_upgrade` on add: a marker naming the module and the
    /// start time of the grandparent (the rpm transaction).
    func recordRPMSafeUpgrade(module: String, version: String) async {
        guard let pppid = ProcessFacts.grandparentPID() else { return }
        guard let marker = fileSystem.makeTemporaryFile(template: "\(settings.tmpLocation)/dkms_rpm_safe_upgrade_lock.\(pppid).XXXXXX") else { return }
        var text = "\(module)-\(version)\n"
        if let start = await processStartText(pppid) { text += start + "\n" }
        fileSystem.writeText(text, to: marker, append: true)
    }


    /// `ps -o lstart --no-headers -p PID`.
    func processStartText(_ pid: Int32) async -> String? {
        let outcome = await engine.run("ps", ["-o", "lstart", "--no-headers", "-p", "\(pid)"], output: .capture, error: .discard)
        var text = outcome.outputText
        while text.hasSuffix("\n") { text.removeLast() }
        return text.isEmpty ? nil : text
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        String(self).trimmingBlanks()
    }
}
