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

}

extension String {
    func trimmingTrailingNewlines() -> String {
        var text = self
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}
