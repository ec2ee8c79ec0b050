/// `dkms remove`: uninstalls, unbuilds and deletes the module version from the tree.
struct RemoveAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {
        try engine.requireAddedVersion(for: .remove)
        try engine.requireWritableTree()
    }

    func run() async throws(DKMSError) -> RunResult {
        try await removeEveryKernel()
        await CommandRunner(engine: engine).postTransaction()
        return .exit(0)
    }

    /// Upstream's `remove_module`: uninstall and unbuild for every
    /// requested kernel, then delete the version (and the module) from the
    /// tree when nothing else is built.
    /// - Returns: 0, also when an rpm upgrade cancels the removal.
    func removeEveryKernel() async throws(DKMSError) {
        let module = engine.scope.module
        let version = engine.scope.version
        let versionDir = "\(engine.dkmsTree)/\(module)/\(version)"
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
        for (kernel, arch) in engine.kernelArchPairs {
            try await UninstallStep(engine: engine).uninstallIfNeeded(module: module, version: version, kernel: kernel, arch: arch)
            UninstallStep(engine: engine).unbuildIfNeeded(module: module, version: version, kernel: kernel, arch: arch)
            console.line()
        }
        let keep = ["build", "tarball", "driver_disk", "rpm", "deb", "source"]
        let others = fileSystem.globEntries(of: versionDir).filter {
            fileSystem.isDirectory("\(versionDir)/\($0)") && !keep.contains(where: $0.hasSuffix)
        }
        if others.isEmpty {
            console.line("Deleting module \(module)/\(version) completely from the DKMS tree.")
            fileSystem.retire(versionDir, to: "\(engine.dkmsTree)/\(module)/.tmp_remove_\(version)")
            fileSystem.removeTree("\(engine.dkmsTree)/.logs/\(module)/\(version)")
            fileSystem.removeDirectory("\(engine.dkmsTree)/.logs/\(module)")
            fileSystem.removeDirectory("\(engine.dkmsTree)/.logs")
            FailureRecords(dkmsTree: engine.dkmsTree, fileSystem: fileSystem).clear(module, version)
        }
        let moduleDir = "\(engine.dkmsTree)/\(module)"
        if fileSystem.isDirectory(moduleDir) && fileSystem.globEntries(of: moduleDir).isEmpty {
            fileSystem.removeTree(moduleDir)
        }
    }

    /// The `--rpm_safe_upgrade` check of remove: a marker left by the add
    /// of the same rpm transaction cancels the removal.
    func rpmUpgradeCancelsRemoval(module: String, version: String) async throws(DKMSError) -> Bool {
        guard let pppid = ProcessFacts.grandparentPID() else { return false }
        let start = await AddAction(engine: engine).processStartText(pppid) ?? ""
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
