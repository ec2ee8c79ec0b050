/// Carries out an ``UninstallPlan`` under the journal: the whole plan is
/// recorded and flushed first, then each module's installed files are
/// deleted and its archived originals put back, and the active link goes
/// last. An original that cannot be put back stops the uninstall with the
/// journal kept, so the next dkms command finishes it.
package struct ModuleUninstaller: Sendable {
    /// The file system changed.
    package var fileSystem: any FileSystemAccess
    /// The journal the plan is recorded in.
    package var journal: Journal
    /// Where the uninstaller's lines go.
    package var console: any Console

    /// An uninstaller.
    package init(fileSystem: any FileSystemAccess, journal: Journal, console: any Console) {
        self.fileSystem = fileSystem
        self.journal = journal
        self.console = console
    }

    /// Carries `plan` out. The returned entry stays open until the caller
    /// has finished the transaction (post_remove, depmod) and commits it.
    package func apply(_ plan: UninstallPlan) throws(DKMSError) -> Journal.Entry {
        let entry = journal.begin("uninstall", module: plan.module, version: plan.version, kernel: plan.kernel, arch: plan.arch)
        entry.recordAll(plan.journalSteps)
        if entry.failure != nil {
            // Nothing done yet: drop the entry (or what of it was written).
            journal.commit(entry)
            try entry.requireRecorded()
        }
        let suffix = ".ko" + plan.compressedSuffix
        for step in plan.steps {
            if let location = step.location {
                console.line("Deleting \(plan.kernelDirectory)\(location)/\(step.name)\(suffix)")
                for file in step.files { fileSystem.removeFile(file) }
                removeEmptyParents(of: location, in: plan.kernelDirectory)
            } else {
                console.line("Module \(step.name)\(suffix) was not found within \(plan.kernelDirectory)/")
            }
            if fileSystem.isDirectory(plan.originals) {
                if let failed = restoreOriginals(step.originals, kernelDirectory: plan.kernelDirectory) {
                    throw DKMSError(.patchOrInstallFailed, "Restoring the original module \(failed) failed.",
                                    "The archived copy is kept in \(plan.originals); the next dkms command retries.")
                }
                fileSystem.deleteEmptyDirectories(under: FileSystem.split(plan.originals).directory)
            }
            let legacy = Engine.compressedOrUncompressed(plan.originals, step.name, suffix: plan.compressedSuffix, exists: fileSystem.exists)
            if !legacy.isEmpty {
                console.line("Restoring archived original module")
                let target = "\(plan.kernelDirectory)\(step.declaredLocation)/"
                entry.record("restore", legacy, target + FileSystem.split(legacy).name)
                try entry.requireRecorded()
                fileSystem.makeDirectories(target)
                fileSystem.move(legacy, to: target + FileSystem.split(legacy).name)
            }
        }
        fileSystem.removeFile(plan.activeLink)
        return entry
    }

    /// Ends a finished uninstall.
    package func commit(_ entry: Journal.Entry) {
        journal.commit(entry)
    }

    /// `rmdir -p --ignore-fail-on-non-empty` of a destination below the kernel dir.
    func removeEmptyParents(of location: String, in kernelDir: String) {
        var relative = Substring(location)
        while relative.hasPrefix("/") { relative = relative.dropFirst() }
        var parts = relative.split(separator: "/").map(String.init)
        while !parts.isEmpty {
            let path = kernelDir + "/" + parts.joined(separator: "/")
            guard fileSystem.removeDirectory(path) else { break }
            parts.removeLast()
        }
    }

    /// Puts archived originals back where their `.origin` file says (the
    /// plan's listing of them; one that belongs outside the kernel's
    /// directory stays, with a warning).
    /// - Returns: the first original that could not be put back (its archived
    ///   copy and `.origin` are kept), or nil.
    func restoreOriginals(_ originals: [ArchivedOriginals.Original], kernelDirectory: String) -> String? {
        var failed: String?
        for original in originals {
            if original.origin.hasPrefix(kernelDirectory + "/") {
                console.line("Restoring archived original module \(original.origin)")
                fileSystem.makeDirectories(FileSystem.split(original.origin).directory)
                guard fileSystem.move(original.archived, to: original.origin) else {
                    if failed == nil { failed = original.origin }
                    continue
                }
                fileSystem.removeFile(original.archived + ".origin")
            } else {
                console.warning("Bad original location '\(original.origin)' in \(original.archived).origin")
            }
        }
        return failed
    }
}
