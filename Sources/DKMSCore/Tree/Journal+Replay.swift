/// What the journal's entries mean once a command was interrupted: an
/// install is rolled back, an uninstall is completed, and a reader that
/// may not settle them sees the trees as settling would leave them.
extension Journal {
    /// The transaction an entry announced in its `begin` line.
    package struct Transaction: Sendable, Equatable {
        /// `install` or `uninstall`.
        package var kind: String
        /// The module.
        package var module: String
        /// Its version.
        package var version: String
        /// The kernel.
        package var kernel: String
        /// The architecture.
        package var arch: String

        /// The transaction of an entry's steps, or nil when its first step
        /// is not a whole `begin` line (killed before it was written).
        package init?(steps: [[String]]) {
            guard let begin = steps.first, begin.count >= 6, begin[0] == "begin" else { return nil }
            (kind, module, version, kernel, arch) = (begin[1], begin[2], begin[3], begin[4], begin[5])
        }
    }

    /// Settles one pending entry of `tree`'s journal and removes it: an
    /// install is rolled back, an uninstall completed.
    /// - Returns: the transaction settled, or nil for an entry without one
    ///   (removed all the same).
    package func settle(_ path: String, in tree: DKMSTree) -> Transaction? {
        let steps = steps(of: path)
        defer {
            fileSystem.removeTree(path + ".d")
            fileSystem.removeFile(path)
        }
        guard let transaction = Transaction(steps: steps) else { return nil }
        let (module, version, kernel, arch) = (transaction.module, transaction.version, transaction.kernel, transaction.arch)
        if transaction.kind == "install" {
            rollBackInstall(steps)
            return transaction
        }
        completeUninstall(steps)
        // Killed before its plan was written whole: the version is no
        // longer active either way.
        let link = tree.activeLink(module, kernel, arch)
        if steps.count > 1, fileSystem.canonicalPath(link) == tree.builtDirectory(module, version, kernel, arch) {
            fileSystem.removeFile(link)
        }
        // An uninstall leaves no original_module/K/A behind (status would
        // say "Original modules exist"): what the plan restored is gone
        // from there; anything it could not restore stays.
        if steps.count > 1 {
            fileSystem.deleteEmptyDirectories(under: tree.originalModulesDirectory(module))
        }
        return transaction
    }

    /// Reverts the recorded steps of an install, newest first.
    package func rollBackInstall(_ steps: [[String]]) {
        for step in steps.reversed() {
            switch (step.first, step.count) {
            case ("copied", 2):
                fileSystem.removeFile(step[1])
                // The temporary name the copy was being written under.
                let (dir, name) = FileSystem.split(step[1])
                for entry in fileSystem.entries(of: dir) where entry.hasPrefix(".\(name).dkms-new.") {
                    fileSystem.removeFile("\(dir)/\(entry)")
                }
            case ("saved", 3):
                if fileSystem.existsNoFollow(step[2]) { fileSystem.move(step[2], to: step[1]) }
            case ("link", 3):
                if step[2].isEmpty {
                    fileSystem.removeFile(step[1])
                } else {
                    fileSystem.replaceSymlink(at: step[1], target: step[2])
                }
            case ("archived", 3):
                if fileSystem.existsNoFollow(step[2]) {
                    fileSystem.makeDirectories(FileSystem.split(step[1]).directory)
                    fileSystem.move(step[2], to: step[1])
                }
                removeInterruptedCopies(to: step[1])
                removeInterruptedCopies(to: step[2])
                fileSystem.removeFile(step[2] + ".origin")
                fileSystem.deleteEmptyDirectories(under: FileSystem.split(FileSystem.split(step[2]).directory).directory)
            default:
                break
            }
        }
    }

    /// Removes what a copy to `destination` left when it was interrupted:
    /// the temporary `.NAME.dkms-new.PID` that `FileSystem.writeBytesAtomically`
    /// writes next to it. A move across file systems (archiving or restoring
    /// the kernel's own module when `/var` is another file system) is such a
    /// copy; a power cut during it leaves that name in the kernel's module
    /// directory, where nothing else would ever remove it.
    func removeInterruptedCopies(to destination: String) {
        let (directory, name) = FileSystem.split(destination)
        let prefix = ".\(name).dkms-new."
        for entry in fileSystem.entries(of: directory) where entry.hasPrefix(prefix) {
            fileSystem.removeFile(directory + "/" + entry)
        }
    }

    /// Performs (again) the recorded steps of an uninstall; every step is
    /// idempotent.
    package func completeUninstall(_ steps: [[String]]) {
        for step in steps {
            switch (step.first, step.count) {
            case ("delete", 2):
                fileSystem.removeFile(step[1])
            case ("restore", 3):
                if fileSystem.existsNoFollow(step[1]) && !fileSystem.existsNoFollow(step[2]) {
                    fileSystem.makeDirectories(FileSystem.split(step[2]).directory)
                    fileSystem.move(step[1], to: step[2])
                }
                removeInterruptedCopies(to: step[2])
                // A restore that failed (no room) keeps its archived copy and
                // where it belongs: the original is never lost.
                if !fileSystem.existsNoFollow(step[1]) { fileSystem.removeFile(step[1] + ".origin") }
            case ("unlink", 2):
                fileSystem.removeFile(step[1])
            default:
                break
            }
        }
    }

    /// Makes `view` answer as the pending entries will leave the trees once
    /// settled: an install's active link goes back to what it was and what
    /// it archived goes back; an uninstall whose plan is journaled leaves
    /// no active link and no archived originals.
    package func overlayPending(onto view: inout DKMSTree) {
        for path in pending() {
            let steps = steps(of: path)
            guard let transaction = Transaction(steps: steps) else { continue }
            let (module, kernel, arch) = (transaction.module, transaction.kernel, transaction.arch)
            let link = view.activeLink(module, kernel, arch)
            let originals = view.originalModulesDirectory(module, kernel, arch)
            if transaction.kind == "install" {
                if let step = steps.first(where: { $0.first == "link" && $0.count == 3 && $0[1] == link }) {
                    view.committedLinks[link] = step[2]
                }
                for step in steps where step.first == "archived" && step.count == 3 {
                    view.pendingOriginals[originals, default: []].formUnion([step[2], step[2] + ".origin"])
                }
            } else if steps.count > 1 {
                view.committedLinks[link] = ""
                view.pendingOriginals[originals, default: []].formUnion(fileSystem.findFiles(under: originals) { _ in true })
            }
        }
    }
}
