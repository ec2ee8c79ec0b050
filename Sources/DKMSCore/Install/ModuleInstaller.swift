/// Carries out an ``InstallPlan`` under the journal: archives the
/// kernel's originals, moves aside what is in the way, copies (or links)
/// each module file into place and points the active link at the version,
/// every step recorded and flushed before it is made. A failure rolls the
/// whole plan back, so the trees are as they were.
///
/// It needs no build and no kernel headers: only the plan's module files.
package struct ModuleInstaller: Sendable {
    /// The file system changed.
    package var fileSystem: any FileSystemAccess
    /// The journal the steps are recorded in.
    package var journal: Journal
    /// Where the installer's lines go.
    package var console: any Console

    /// An installer.
    package init(fileSystem: any FileSystemAccess, journal: Journal, console: any Console) {
        self.fileSystem = fileSystem
        self.journal = journal
        self.console = console
    }

    /// Carries `plan` out. The returned entry stays open until the caller
    /// has finished the transaction (post_install, depmod) and commits it
    /// (``commit(_:)``); on a failure it is rolled back and committed here.
    package func apply(_ plan: InstallPlan) throws(DKMSError) -> Journal.Entry {
        let entry = journal.begin("install", module: plan.module, version: plan.version, kernel: plan.kernel, arch: plan.arch)
        do throws(DKMSError) {
            try entry.requireRecorded()
            var anyInstalled = false
            for step in plan.steps {
                step.announcement.replay(to: console)
                guard let copy = step.copy else { continue }
                try install(copy, symlink: plan.symlinks, entry: entry)
                anyInstalled = true
            }
            if plan.requiresAModule && !anyInstalled {
                throw DKMSError(.patchOrInstallFailed, "Installation aborted.")
            }
            entry.record("link", plan.activeLink, fileSystem.readLink(plan.activeLink) ?? "")
            try entry.requireRecorded()
            fileSystem.replaceSymlink(at: plan.activeLink, target: plan.activeTarget)
        } catch {
            rollBack(entry)
            throw error
        }
        return entry
    }

    /// Ends a finished install.
    package func commit(_ entry: Journal.Entry) {
        journal.commit(entry)
    }

    /// Undoes what an entry recorded and ends it.
    package func rollBack(_ entry: Journal.Entry) {
        journal.rollBackInstall(journal.steps(of: entry.path))
        journal.commit(entry)
    }

    private func install(_ copy: InstallPlan.ModuleCopy, symlink: Bool, entry: Journal.Entry) throws(DKMSError) {
        if copy.originalAlreadyStored {
            console.line("An original module was already stored during a previous install")
        }
        if let archive = copy.archive {
            console.line("Found pre-existing \(archive.original), archiving for uninstallation")
            fileSystem.makeDirectories(FileSystem.split(archive.archived).directory)
            entry.record("archived", archive.original, archive.archived)
            try entry.requireRecorded()
            guard fileSystem.move(archive.original, to: archive.archived) else {
                throw DKMSError(.patchOrInstallFailed, "Archiving the original module \(archive.original) failed.")
            }
            // Flushed now: the commit makes the archive durable, and an
            // empty .origin after a power cut would leave the original
            // unrestorable (uninstall skips it, remove --all deletes it).
            // One that cannot be written fails the install, which rolls back.
            if fileSystem.writeTextDurably(archive.original + "\n", to: archive.archived + ".origin") != nil {
                throw DKMSError(.patchOrInstallFailed, "Archiving the original module \(archive.original) failed.")
            }
        }
        console.line("Installing \(copy.destination)")
        fileSystem.makeDirectories(FileSystem.split(copy.destination).directory)
        if fileSystem.existsNoFollow(copy.destination) {
            let saved = entry.stashPath()
            entry.record("saved", copy.destination, saved)
            try entry.requireRecorded()
            fileSystem.move(copy.destination, to: saved)
        }
        entry.record("copied", copy.destination)
        try entry.requireRecorded()
        let copied = symlink
            ? fileSystem.symlink(target: copy.source, at: copy.destination)
            : fileSystem.copyFileAtomically(from: copy.source, to: copy.destination)
        if !copied { throw DKMSError(.patchOrInstallFailed, "Copying '\(copy.source)' failed") }
    }
}
