extension Engine {
    /// Upstream's `uninstall_module` for every requested kernel.
    func uninstallAction() async throws(DKMSError) {
        for (index, (kernel, arch)) in kernelArchPairs.enumerated() {
            if index > 0 { console.line() }
            try await uninstallIfNeeded(module: scope.module, version: scope.version, kernel: kernel, arch: arch)
        }
    }

    /// Upstream's `unbuild_module` for every requested kernel.
    func unbuildAction() async throws(DKMSError) {
        for (index, (kernel, arch)) in kernelArchPairs.enumerated() {
            if index > 0 { console.line() }
            try await uninstallIfNeeded(module: scope.module, version: scope.version, kernel: kernel, arch: arch)
            unbuildIfNeeded(module: scope.module, version: scope.version, kernel: kernel, arch: arch)
        }
    }

    /// Upstream's `remove_module`: uninstall and unbuild for every
    /// requested kernel, then delete the version (and the module) from the
    /// tree when nothing else is built.
    /// - Returns: 0, also when an rpm upgrade cancels the removal.
    func removeAction() async throws(DKMSError) {
        let module = scope.module
        let version = scope.version
        let versionDir = "\(dkmsTree)/\(module)/\(version)"
        for kernel in fileSystem.globEntries(of: versionDir) {
            for leftover in fileSystem.entries(of: "\(versionDir)/\(kernel)") where leftover.hasPrefix(".tmp_") {
                fileSystem.removeTree("\(versionDir)/\(kernel)/\(leftover)")
            }
        }
        for name in fileSystem.entries(of: versionDir) where fileSystem.isEmptyDirectory("\(versionDir)/\(name)") && !fileSystem.isSymlink("\(versionDir)/\(name)") {
            fileSystem.removeDirectory("\(versionDir)/\(name)")
        }
        if fileSystem.isEmptyDirectory(versionDir) { fileSystem.removeDirectory(versionDir) }

        if settings.rpmSafeUpgrade, try await rpmUpgradeCancelsRemoval(module: module, version: version) {
            return
        }
        for (kernel, arch) in kernelArchPairs {
            try await uninstallIfNeeded(module: module, version: version, kernel: kernel, arch: arch)
            unbuildIfNeeded(module: module, version: version, kernel: kernel, arch: arch)
            console.line()
        }
        let keep = ["build", "tarball", "driver_disk", "rpm", "deb", "source"]
        let others = fileSystem.globEntries(of: versionDir).filter {
            fileSystem.isDirectory("\(versionDir)/\($0)") && !keep.contains(where: $0.hasSuffix)
        }
        if others.isEmpty {
            console.line("Deleting module \(module)/\(version) completely from the DKMS tree.")
            fileSystem.retire(versionDir, to: "\(dkmsTree)/\(module)/.tmp_remove_\(version)")
            fileSystem.removeTree("\(dkmsTree)/.logs/\(module)/\(version)")
            fileSystem.removeDirectory("\(dkmsTree)/.logs/\(module)")
            fileSystem.removeDirectory("\(dkmsTree)/.logs")
            FailureRecords(dkmsTree: dkmsTree).clear(module, version)
        }
        let moduleDir = "\(dkmsTree)/\(module)"
        if fileSystem.isDirectory(moduleDir) && fileSystem.globEntries(of: moduleDir).isEmpty {
            fileSystem.removeTree(moduleDir)
        }
    }

    /// The `--rpm_safe_upgrade` check of remove: a marker left by the add
    /// of the same rpm transaction cancels the removal.
    func rpmUpgradeCancelsRemoval(module: String, version: String) async throws(DKMSError) -> Bool {
        guard let pppid = ProcessFacts.grandparentPID() else { return false }
        let start = await processStartText(pppid) ?? ""
        let prefix = "dkms_rpm_safe_upgrade_lock.\(pppid)."
        for name in fileSystem.globEntries(of: settings.tmpLocation) where name.hasPrefix(prefix) {
            let path = "\(settings.tmpLocation)/\(name)"
            guard fileSystem.isRegularFile(path) else { continue }
            let lines = (fileSystem.readText(path) ?? "").split(separator: "\n").map(String.init)
            guard lines.first == "\(module)-\(version)", !start.isEmpty, lines.last == start else { continue }
            fileSystem.removeFile(path)
            console.warning("Remove cancelled because --rpm_safe_upgrade scenario detected.")
            return true
        }
        return false
    }

    /// The kernels and arches of this invocation, paired.
    var kernelArchPairs: [(String, String)] {
        settings.kernels.indices.map { (settings.kernels[$0], $0 < settings.arches.count ? settings.arches[$0] : "") }
    }

    /// Upstream's `check_and_rebuild_dependent_modules`: after an install,
    /// rebuilds modules with BUILD_DEPENDS_REBUILD whose dependencies
    /// changed version since they were built.
    func rebuildDependents(kernel: String, arch: String) async throws(DKMSError) {
        var toRebuild: [(String, String)] = []
        for record in tree.status() {
            guard case .built(let m, let v, let k, let a, _) = record, k == kernel, a == arch else { continue }
            let config = try await readConfOrDie(kernel: kernel, arch: arch, module: m, version: v)
            if config.buildDepends.isEmpty || !config.rebuildOnDependencyChange || scope.force { continue }
            _ = try await readConfOrDie(kernel: kernel, arch: arch, module: m, version: v, strict: true)
            var updated = false
            for dependency in config.buildDepends {
                let versions = tree.status(module: dependency, kernel: kernel, arch: arch).map(\.version)
                guard let latest = VersionSort.sorted(versions).last, !latest.isEmpty else { continue }
                let file = "\(tree.builtDirectory(m, v, kernel, arch))/.dep_\(dependency)"
                if let recorded = fileSystem.readText(file) {
                    if recorded.trimmingTrailingNewlines() != latest { updated = true; break }
                } else {
                    updated = true
                    break
                }
            }
            if updated { toRebuild.append((m, v)) }
        }
        for (m, v) in toRebuild {
            let config = try await readConfOrDie(kernel: kernel, arch: arch, module: m, version: v)
            guard !config.buildDepends.isEmpty else { continue }
            console.line()
            console.line("Rebuilding module \(m)/\(v) due to updated dependencies")
            console.line()
            scope.module = m
            scope.version = v
            try await uninstall(module: m, version: v, kernel: kernel, arch: arch)
            unbuildDirectory(module: m, version: v, kernel: kernel, arch: arch)
            try await build(module: m, version: v, kernel: kernel, arch: arch)
            try await install(module: m, version: v, kernel: kernel, arch: arch)
        }
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var text = self
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}
