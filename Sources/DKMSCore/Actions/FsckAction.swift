/// `dkms fsck` (not in upstream): reports and repairs an inconsistent tree.
struct FsckAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {
        try engine.requireRoot()
    }

    func run() async throws(DKMSError) -> RunResult {
        await fsck()
        return .exit(0)
    }


    /// `dkms fsck`: finds what interrupted commands or manual changes left
    /// inconsistent and repairs it, saying what it did. The interrupted
    /// transactions in the journal were already settled when the tree lock
    /// was taken. The repairs of the trees alone are ``TreeRepair``'s.
    func fsck() async {
        var repairs = 0
        func repaired(_ text: String) {
            repairs += 1
            console.line(text)
        }
        let repair = TreeRepair(tree: engine.tree, installTree: engine.installTree,
                                dkmsOnlyLocation: settings.destinationPolicy.location(for: "/updates/dkms"))
        var touchedKernels = repair.removeLeftovers(repaired: repaired)
        for record in engine.tree.status() {
            guard case .built(let m, let v, let k, let a, .installed) = record else { continue }
            if await reinstallMissingFiles(module: m, version: v, kernel: k, arch: a, repaired: repaired) {
                touchedKernels.insert(k)
            }
        }
        for kernel in repair.installedKernels where repair.removeOrphanedModules(kernel: kernel, repaired: repaired) {
            touchedKernels.insert(kernel)
        }
        for kernel in touchedKernels.sorted() {
            _ = await engine.depmod(kernel: kernel, output: CommandOutput(output: .discard, error: .discard))
        }
        if repairs == 0 { console.line("No problems found in \(dkmsTree).") }
    }

    /// Puts back the module files an installed version is missing in the
    /// kernel's module directory (from its built copies).
    /// - Returns: whether anything was copied.
    private func reinstallMissingFiles(module: String, version: String, kernel: String, arch: String,
                                       repaired: (String) -> Void) async -> Bool {
        guard let config = await DryRun(engine: engine).quietConf(module, version, kernel, arch) else { return false }
        engine.updateModuleSuffix(for: kernel)
        var copied = false
        for index in config.modules.indices where config.isBuildable(moduleAt: index) {
            let entry = config.modules[index]
            let built = engine.compressedOrUncompressed(engine.tree.builtDirectory(module, version, kernel, arch) + "/module", entry.destName)
            guard !built.isEmpty else { continue }
            let locations = [entry.destLocation, entry.declaredDestLocation]
            let present = locations.contains { !engine.compressedOrUncompressed("\(engine.installTree)/\(kernel)\($0)", entry.destName).isEmpty }
            if present { continue }
            let target = "\(engine.installTree)/\(kernel)\(entry.destLocation)/\(FileSystem.split(built).name)"
            fileSystem.makeDirectories(FileSystem.split(target).directory)
            if fileSystem.copyFileAtomically(from: built, to: target) {
                repaired("Reinstalled the missing \(target) of \(module)/\(version).")
                copied = true
            }
        }
        return copied
    }
}
