extension Engine {
    var journal: Journal { Journal(dkmsTree: dkmsTree) }

    /// Finishes what interrupted commands left in the journal: an install
    /// is rolled back, an uninstall is completed. Runs before every command
    /// that changes the trees, under the tree lock.
    func recoverInterruptedTransactions() async {
        let pending = journal.pending()
        defer { if !pending.isEmpty { FileSystem.removeDirectory(journal.directory) } }
        for path in pending {
            let steps = journal.steps(of: path)
            guard let begin = steps.first, begin.count >= 6, begin[0] == "begin" else {
                FileSystem.removeTree(path + ".d")
                FileSystem.removeFile(path)
                continue
            }
            let (kind, module, version, kernel, arch) = (begin[1], begin[2], begin[3], begin[4], begin[5])
            if kind == "install" {
                undoInstallSteps(steps)
                console.errorLine("dkms: rolled back an interrupted install of \(module)/\(version) for kernel \(kernel) (\(arch))")
            } else {
                redoUninstallSteps(steps)
                // Killed before its plan was written whole: the version is
                // no longer active either way.
                let link = tree.activeLink(module, kernel, arch)
                if steps.count > 1, FileSystem.canonicalPath(link) == tree.builtDirectory(module, version, kernel, arch) {
                    FileSystem.removeFile(link)
                }
                // An uninstall leaves no original_module/K/A behind (status
                // would say "Original modules exist"): what the plan restored
                // is gone from there; anything it could not restore stays.
                if steps.count > 1 {
                    FileSystem.deleteEmptyDirectories(under: tree.originalModulesDirectory(module))
                }
                console.errorLine("dkms: completed an interrupted uninstall of \(module)/\(version) for kernel \(kernel) (\(arch))")
            }
            FileSystem.removeTree(path + ".d")
            FileSystem.removeFile(path)
            _ = await depmod(kernel: kernel, output: CommandOutput(output: .discard, error: .discard))
        }
    }

    /// Reverts the recorded steps of an install, newest first.
    func undoInstallSteps(_ steps: [[String]]) {
        for step in steps.reversed() {
            switch (step.first, step.count) {
            case ("copied", 2):
                FileSystem.removeFile(step[1])
                // The temporary name the copy was being written under.
                let (dir, name) = FileSystem.split(step[1])
                for entry in FileSystem.entries(of: dir) where entry.hasPrefix(".\(name).dkms-new.") {
                    FileSystem.removeFile("\(dir)/\(entry)")
                }
            case ("saved", 3):
                if FileSystem.existsNoFollow(step[2]) { FileSystem.move(step[2], to: step[1]) }
            case ("link", 3):
                if step[2].isEmpty {
                    FileSystem.removeFile(step[1])
                } else {
                    FileSystem.replaceSymlink(at: step[1], target: step[2])
                }
            case ("archived", 3):
                if FileSystem.existsNoFollow(step[2]) {
                    FileSystem.makeDirectories(FileSystem.split(step[1]).directory)
                    FileSystem.move(step[2], to: step[1])
                }
                FileSystem.removeFile(step[2] + ".origin")
                FileSystem.deleteEmptyDirectories(under: FileSystem.split(FileSystem.split(step[2]).directory).directory)
            default:
                break
            }
        }
    }

    /// Performs (again) the recorded steps of an uninstall; every step is
    /// idempotent.
    func redoUninstallSteps(_ steps: [[String]]) {
        for step in steps {
            switch (step.first, step.count) {
            case ("delete", 2):
                FileSystem.removeFile(step[1])
            case ("restore", 3):
                if FileSystem.existsNoFollow(step[1]) && !FileSystem.existsNoFollow(step[2]) {
                    FileSystem.makeDirectories(FileSystem.split(step[2]).directory)
                    FileSystem.move(step[1], to: step[2])
                }
                // A restore that failed (no room) keeps its archived copy and
                // where it belongs: the original is never lost.
                if !FileSystem.existsNoFollow(step[1]) { FileSystem.removeFile(step[1] + ".origin") }
            case ("unlink", 2):
                FileSystem.removeFile(step[1])
            default:
                break
            }
        }
    }
}
