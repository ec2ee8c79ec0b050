#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Engine {
    /// Upstream's `add_module` for `scope.module`/`scope.version`
    /// (after loading a source tree or tarball given on the command line).
    /// - Returns: the exit status of the post_add script (0 without one),
    ///   which upstream's `add` exits with.
    @discardableResult
    func addModule(kernel: String? = nil, arch: String? = nil) async throws(DKMSError) -> Int32 {
        let kernel = kernel ?? firstKernel
        let arch = arch ?? firstArch
        if !settings.archive.isEmpty && scope.module.isEmpty && scope.version.isEmpty {
            try await loadTarball()
        } else if !settings.sourceTreeArgument.isEmpty && scope.module.isEmpty && scope.version.isEmpty {
            try await addSourceTree(settings.sourceTreeArgument, kernel: kernel, arch: arch)
        }
        try requireModuleArguments("add")
        let module = scope.module
        let version = scope.version
        if settings.rpmSafeUpgrade { await recordRPMSafeUpgrade(module: module, version: version) }
        if tree.isAdded(module, version) {
            throw DKMSError(.alreadyThereOrMissingFromTree, "DKMS tree already contains: \(module)/\(version)",
                            "You cannot add the same module/version combo more than once.")
        }
        let sourceDirectory = "\(sourceTree)/\(module)-\(version)"
        let sourceConf = settings.conf.isEmpty ? sourceDirectory + "/dkms.conf" : settings.conf
        guard fileSystem.isDirectory(sourceDirectory) else {
            throw DKMSError(.notFoundOrConflictingKernels, "Could not find module source directory.", "Directory: \(sourceDirectory) does not exist.")
        }
        try refuseUnsafeModuleNames(module: module, version: version)
        let config = try await readConfOrDie(
            kernel: kernel, arch: arch, module: module, version: version, file: sourceConf, strict: true)
        console.line("Creating symlink \(tree.sourceDirectory(module, version)) -> \(sourceDirectory)")
        createVersionDirectory(module: module, version: version, source: sourceDirectory)
        return try await runScript(.postAdd, config.script(.postAdd), module: module, version: version,
                                   kernel: kernel, arch: arch)
    }

    /// `maybe_add_module`.
    func addIfNeeded(module: String, version: String) async -> Int32 {
        if tree.isAdded(module, version) {
            console.line("Module \(module)/\(version) already added.")
            return 0
        }
        return await subshell { shell throws(DKMSError) -> Int32 in
            shell.scope.module = module
            shell.scope.version = version
            try await shell.addModule()
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
        try requireRoot()
        let conf = from + "/dkms.conf"
        let config = try await readConfOrDie(kernel: kernel, arch: arch, module: "", version: "", file: conf)
        guard !config.packageName.isEmpty, !config.packageVersion.isEmpty else {
            throw DKMSError(.buildFailed, "Malformed dkms.conf file. Cannot load source tree.")
        }
        scope.module = config.packageName
        scope.version = config.packageVersion
        let destination = "\(sourceTree)/\(scope.module)-\(scope.version)"
        if scope.force && fileSystem.isDirectory(destination) {
            console.errorLine()
            console.line("Forcing install of \(scope.module)/\(scope.version)")
            fileSystem.removeTree(destination)
        }
        let own = [destination, tree.sourceDirectory(scope.module, scope.version),
                   tree.buildDirectory(scope.module, scope.version)]
        if own.contains(from) { return }
        // A new copy is made under a temporary name and renamed into place,
        // so an interrupted add never leaves a half-copied source tree.
        if !fileSystem.existsNoFollow(destination),
           let staging = fileSystem.makeTemporaryDirectory(template: "\(sourceTree)/.tmp_\(scope.module)-\(scope.version)_XXXXXX") {
            _ = await run("cp", ["--reflink=auto", "-fprT", from + "/", staging])
            if fileSystem.rename(staging, to: destination) { return }
            fileSystem.removeTree(staging)
        }
        fileSystem.makeDirectories(destination)
        _ = await run("cp", ["--reflink=auto", "-fprT", from + "/", destination])
    }

    /// Creates `m/v` with its `build` directory and `source` link in one
    /// step: everything is prepared under a hidden temporary name in `m/`
    /// and renamed into place.
    func createVersionDirectory(module: String, version: String, source: String) {
        let moduleDir = tree.moduleDirectory(module)
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
        let outcome = await run("ps", ["-o", "lstart", "--no-headers", "-p", "\(pid)"], output: .capture, error: .discard)
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
