/// `dkms remove`: uninstalls, unbuilds and deletes the module version from the tree.
struct RemoveAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine
    private let action = Action.remove

    func checkRequirements() throws(DKMSError) {
        try engine.requireModuleArguments(action.rawValue)
        try engine.refuseBroken()
        try engine.requireAdded()
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
        for kernel in engine.fileSystem.globEntries(of: versionDir) {
            for leftover in engine.fileSystem.entries(of: "\(versionDir)/\(kernel)") where leftover.hasPrefix(".tmp_") {
                engine.fileSystem.removeTree("\(versionDir)/\(kernel)/\(leftover)")
            }
        }
        for name in engine.fileSystem.entries(of: versionDir) where engine.fileSystem.isEmptyDirectory("\(versionDir)/\(name)") && !engine.fileSystem.isSymlink("\(versionDir)/\(name)") {
            engine.fileSystem.removeDirectory("\(versionDir)/\(name)")
        }
        if engine.fileSystem.isEmptyDirectory(versionDir) { engine.fileSystem.removeDirectory(versionDir) }

        if engine.settings.rpmSafeUpgrade, try await rpmUpgradeCancelsRemoval(module: module, version: version) {
            return
        }
        for (kernel, arch) in engine.kernelArchPairs {
            try await UninstallStep(engine: engine).uninstallIfNeeded(module: module, version: version, kernel: kernel, arch: arch)
            UninstallStep(engine: engine).unbuildIfNeeded(module: module, version: version, kernel: kernel, arch: arch)
            engine.console.line()
        }
        let keep = ["build", "tarball", "driver_disk", "rpm", "deb", "source"]
        let others = engine.fileSystem.globEntries(of: versionDir).filter {
            engine.fileSystem.isDirectory("\(versionDir)/\($0)") && !keep.contains(where: $0.hasSuffix)
        }
        if others.isEmpty {
            engine.console.line("Deleting module \(module)/\(version) completely from the DKMS tree.")
            engine.fileSystem.retire(versionDir, to: "\(engine.dkmsTree)/\(module)/.tmp_remove_\(version)")
            engine.fileSystem.removeTree("\(engine.dkmsTree)/.logs/\(module)/\(version)")
            engine.fileSystem.removeDirectory("\(engine.dkmsTree)/.logs/\(module)")
            engine.fileSystem.removeDirectory("\(engine.dkmsTree)/.logs")
            FailureRecords(dkmsTree: engine.dkmsTree).clear(module, version)
        }
        let moduleDir = "\(engine.dkmsTree)/\(module)"
        if engine.fileSystem.isDirectory(moduleDir) && engine.fileSystem.globEntries(of: moduleDir).isEmpty {
            engine.fileSystem.removeTree(moduleDir)
        }
    }

    /// The `--rpm_safe_upgrade` check of remove: a marker left by the add
    /// of the same rpm transaction cancels the removal.
    func rpmUpgradeCancelsRemoval(module: String, version: String) async throws(DKMSError) -> Bool {
        guard let pppid = ProcessFacts.grandparentPID() else { return false }
        let start = await AddAction(engine: engine).processStartText(pppid) ?? ""
        let prefix = "dkms_rpm_safe_upgrade_lock.\(pppid)."
        for name in engine.fileSystem.globEntries(of: engine.settings.tmpLocation) where name.hasPrefix(prefix) {
            let path = "\(engine.settings.tmpLocation)/\(name)"
            guard engine.fileSystem.isRegularFile(path) else { continue }
            let lines = (engine.fileSystem.readText(path) ?? "").split(separator: "\n").map(String.init)
            guard lines.first == "\(module)-\(version)", !start.isEmpty, lines.last == start else { continue }
            engine.fileSystem.removeFile(path)
            engine.console.warning("Remove cancelled because --rpm_safe_upgrade scenario detected.")
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
