extension Engine {
    /// `maybe_install_module`: installs unless already installed (then
    /// `--force` uninstalls first, otherwise it says so and succeeds).
    func installIfNeeded(module: String, version: String, kernel: String, arch: String) async -> Int32 {
        await subshell { () throws(DKMSError) -> Int32 in
            if tree.isInstalled(module, version, kernel, arch) {
                if state.force {
                    try await uninstall(module: module, version: version, kernel: kernel, arch: arch)
                    console.line()
                } else {
                    console.line("Module \(module)/\(version) already installed on kernel \(kernel) (\(arch)), skip. You may override by specifying --force.")
                    return 0
                }
            }
            try await install(module: module, version: version, kernel: kernel, arch: arch)
            return 0
        }
    }

    /// Upstream's `force_installation`: /usr/share/dkms/modules_to_force_install
    /// lists modules that are always forced (`m`) or version-overridden
    /// (`m_version-override`).
    func forcedInstallation(_ module: String) -> String? {
        let dir = "/usr/share/dkms/modules_to_force_install"
        guard FileSystem.isDirectory(dir) else { return nil }
        var words: [String] = []
        for name in FileSystem.globEntries(of: dir) {
            words += ShellText.words(FileSystem.readText("\(dir)/\(name)") ?? "")
        }
        for word in words {
            if word == module { return "force" }
            if word == module + "_version-override" { return "version-override" }
        }
        return nil
    }

    /// Upstream's `do_install`: builds if needed, checks versions against
    /// the kernel's own modules, archives originals, copies the modules
    /// into `/lib/modules/K/<dest>`, marks the version active and runs depmod.
    func install(module: String, version: String, kernel: String, arch: String) async throws(DKMSError) {
        guard !kernel.isEmpty, !arch.isEmpty else { throw DKMSError(.emptyKernelOrArch, "do_install: Empty $kernelver or $arch") }
        var module = module
        var version = version
        if !tree.isBuilt(module, version, kernel, arch) {
            (module, version) = try await build(module: module, version: version, kernel: kernel, arch: arch)
        }
        announceChosenKernels()
        let baseDir = tree.builtDirectory(module, version, kernel, arch)
        let libTree = "\(installTree)/\(kernel)"
        let backupDir = tree.originalModulesDirectory(module, kernel, arch)
        let activeLink = tree.activeLink(module, kernel, arch)
        let savedForce = state.force
        switch forcedInstallation(module) {
        case "force":
            state.force = true
            console.line("Forcing installation of \(module)")
        case "version-override":
            state.forceVersionOverride = true
            console.line("Forcing version override of \(module)")
        default: break
        }
        guard FileSystem.exists(libTree) else {
            throw DKMSError(.patchOrInstallFailed, "The directory \(libTree) doesn't exist.", "You cannot install a module onto a non-existent kernel.")
        }
        updateModuleSuffix(for: kernel)
        let config = try await readConfOrDie(kernel: kernel, arch: arch, module: module, version: version, strict: true)
        let buildable = config.modules.indices.filter { config.isBuildable(moduleAt: $0) }
        for index in buildable {
            let name = config.modules[index].destName
            let found = compressedOrUncompressed(baseDir + "/module", name)
            if found.isEmpty || !FileSystem.isRegularFile(found) {
                throw DKMSError(.patchOrInstallFailed, "Missing module \(name) in \(baseDir)/module")
            }
        }
        if tree.isInstalled(module, version, kernel, arch) {
            throw DKMSError(.refusedPatchOrAlreadyInstalled, "This module/version combo is already installed for kernel \(kernel) (\(arch)).")
        }
        if settings.rpmSafeUpgrade { state.force = true }

        let preInstall = try await runScript(.preInstall, config.script(.preInstall), module: module, version: version, kernel: kernel, arch: arch)
        if preInstall != 0 && !state.force {
            throw DKMSError(.preInstallFailed, "pre_install failed, aborting install.", "You may override by specifying --force.")
        }

        try WritePreflight.install(destinations: buildable.map { libTree + config.modules[$0].destLocation } + [FileSystem.split(activeLink).directory],
                             module: module, version: version)
        let entry = journal.begin("install", module: module, version: version, kernel: kernel, arch: arch)
        let savedIndex = moduleIndex
        moduleIndex = KernelModuleIndex(root: libTree)
        do throws(DKMSError) {
            try entry.requireRecorded()
            var anyInstalled = false
            for index in buildable {
                let target = config.modules[index]
                let name = target.destName
                guard await versionIsSane(kernel: kernel, arch: arch, module: module, version: version,
                                          obsoleteBy: config.obsoleteBy, name: name) else { continue }
                let found = findModule(under: libTree, named: name)
                let original = compressedOrUncompressed(backupDir, name)
                if FileSystem.isSymlink(activeLink) && !original.isEmpty {
                    console.line("An original module was already stored during a previous install")
                } else if !FileSystem.isSymlink(activeLink) {
                    let candidates = [
                        compressedOrUncompressed(libTree + "/extra", name),
                        compressedOrUncompressed(libTree + "/updates", name),
                        compressedOrUncompressed(libTree + target.destLocation, name),
                    ].filter { !$0.isEmpty } + found
                    for candidate in candidates where FileSystem.isRegularFile(candidate) {
                        console.line("Found pre-existing \(candidate), archiving for uninstallation")
                        FileSystem.makeDirectories(backupDir)
                        let fileName = FileSystem.split(candidate).name
                        entry.record("archived", candidate, "\(backupDir)/\(fileName)")
                        try entry.requireRecorded()
                        guard FileSystem.move(candidate, to: "\(backupDir)/\(fileName)") else {
                            throw DKMSError(.patchOrInstallFailed, "Archiving the original module \(candidate) failed.")
                        }
                        moduleIndex?.removed(candidate)
                        // Flushed now: the commit below makes the archive durable, and
                        // an empty .origin after a power cut would leave the original
                        // unrestorable (uninstall skips it, remove --all deletes it).
                        // One that cannot be written fails the install, which rolls back.
                        if FileSystem.writeTextDurably(candidate + "\n", to: "\(backupDir)/\(fileName).origin") != nil {
                            throw DKMSError(.patchOrInstallFailed, "Archiving the original module \(candidate) failed.")
                        }
                        break
                    }
                }
                let source = compressedOrUncompressed(baseDir + "/module", name)
                let destDir = libTree + target.destLocation
                let destination = destDir + "/" + FileSystem.split(source).name
                console.line("Installing \(destination)")
                FileSystem.makeDirectories(destDir)
                if FileSystem.existsNoFollow(destination) {
                    let saved = entry.stashPath()
                    entry.record("saved", destination, saved)
                    try entry.requireRecorded()
                    FileSystem.move(destination, to: saved)
                    moduleIndex?.removed(destination)
                }
                entry.record("copied", destination)
                try entry.requireRecorded()
                let copied = settings.symlinkModules
                    ? FileSystem.symlink(target: source, at: destination)
                    : FileSystem.copyFileAtomically(from: source, to: destination)
                if !copied { throw DKMSError(.patchOrInstallFailed, "Copying '\(source)' failed") }
                if !settings.symlinkModules { moduleIndex?.added(destination) }
                anyInstalled = true
            }
            if !config.modules.isEmpty && !anyInstalled {
                throw DKMSError(.patchOrInstallFailed, "Installation aborted.")
            }
            entry.record("link", activeLink, FileSystem.readLink(activeLink) ?? "")
            try entry.requireRecorded()
            FileSystem.replaceSymlink(at: activeLink, target: "\(version)/\(kernel)/\(arch)")
            moduleIndex = savedIndex
        } catch {
            moduleIndex = savedIndex
            journal.rollBackInstall(journal.steps(of: entry.path))
            journal.commit(entry)
            throw error
        }
        try await runScript(.postInstall, config.script(.postInstall), module: module, version: version, kernel: kernel, arch: arch)
        _ = await invokeCommand("do_depmod \(kernel)", description: "Running depmod", log: nil, background: true) { target in
            await depmod(kernel: kernel, output: target)
        }
        journal.commit(entry)
        if settings.modprobeOnInstall && kernel == settings.runningKernel {
            _ = await runner.run(ProcessSpec(
                Shell.bash, ["-c", "find /sys/devices -name modalias -print0 | xargs -0 cat | sort -u | xargs modprobe -a -b -q; if [[ -f /lib/systemd/system/systemd-modules-load.service ]]; then systemctl restart systemd-modules-load.service; fi"],
                environment: childEnvironment))
        }
        state.force = savedForce
        try await rebuildDependents(kernel: kernel, arch: arch)
    }

    /// Upstream's `check_version_sanity`: refuses to replace a newer or
    /// identical module already in the kernel tree (unless forced), and an
    /// obsoleted module.
    func versionIsSane(kernel: String, arch: String, module: String, version: String, obsoleteBy: String, name: String) async -> Bool {
        if !obsoleteBy.isEmpty, isObsoleted(kernel: kernel, by: obsoleteBy) {
            console.errorLine()
            console.errorLine("Module has been obsoleted due to being included in kernel \(obsoleteBy).")
            console.errorLine("We will avoid installing for future kernels above \(obsoleteBy).")
            console.errorLine("You may override by specifying --force.")
            return false
        }
        updateModuleSuffix(for: kernel)
        guard let kernelsModule = findModule(under: "\(installTree)/\(kernel)", named: name).first else { return true }
        if state.forceVersionOverride { return true }
        if kernelsModule.contains(" ") {
            console.warning("Cannot do version sanity checking because multiple \(name)\(moduleSuffix) modules were found in kernel \(kernel).")
            return true
        }
        let dkmsModule = compressedOrUncompressed(tree.builtDirectory(module, version, kernel, arch) + "/module", name)
        let theirs = await moduleVersionInfo(kernelsModule)
        let ours = await moduleVersionInfo(dkmsModule)
        switch theirs.compare(to: ours) {
        case .newer where !state.force:
            console.error("Module version \(ours.version) for \(name)\(moduleSuffix)",
                          "is not newer than what is already found in kernel \(kernel) (\(theirs.version)).",
                          "You may override by specifying --force.")
            return false
        case .identical where !state.force:
            let hasInfo = !(ours.version + ours.sourceVersion).isEmpty
            if hasInfo || FileSystem.sameContent(kernelsModule, dkmsModule) {
                if !ours.version.isEmpty {
                    console.errorLine("Module \(kernelsModule) already installed at version \(ours.version), override by specifying --force")
                } else {
                    console.errorLine("Module \(kernelsModule) already installed (unversioned module), override by specifying --force")
                }
                return false
            }
            return true
        default:
            return true
        }
    }

    /// The OBSOLETE_BY test of `check_version_sanity`. Upstream splits the
    /// versions at dashes into one quoted word, so only the padded
    /// comparison of the whole strings counts: obsolete from that kernel on.
    func isObsoleted(kernel: String, by obsoleteBy: String) -> Bool {
        guard !state.force else { return false }
        let obsolete = VersionKey(obsoleteBy.replacingOccurrences(of: "-", with: " "))
        let mine = VersionKey(kernel.replacingOccurrences(of: "-", with: " "))
        return mine >= obsolete
    }
}
