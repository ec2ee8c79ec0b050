extension Engine {
    var journal: Journal { Journal(dkmsTree: dkmsTree, fileSystem: fileSystem) }

    /// Finishes what interrupted commands left in the journal: an install
    /// is rolled back, an uninstall is completed (``Journal/settle(_:in:)``).
    /// Runs before every command that changes the trees, under the tree lock.
    func recoverInterruptedTransactions() async {
        let journal = journal
        let pending = journal.pending()
        defer { if !pending.isEmpty { fileSystem.removeDirectory(journal.directory) } }
        for path in pending {
            guard let settled = journal.settle(path, in: tree) else { continue }
            let what = "\(settled.module)/\(settled.version) for kernel \(settled.kernel) (\(settled.arch))"
            if settled.kind == "install" {
                console.errorLine("dkms: rolled back an interrupted install of \(what)")
            } else {
                console.errorLine("dkms: completed an interrupted uninstall of \(what)")
            }
            _ = await depmod(kernel: settled.kernel, output: CommandOutput(output: .discard, error: .discard))
        }
    }
}
