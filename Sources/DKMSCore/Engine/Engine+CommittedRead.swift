/// The readers' rule (docs/consistency.md): a command that only reads the
/// trees (`status`, `status --json`, `--dry-run` plans) reports the state
/// that recovery of the journal leaves, never a torn one, and never waits
/// for the tree lock.
///
/// - Interrupted transaction, lock free (the writer died): the reader takes
///   the lock without waiting, settles the journal as the next writer would
///   (rolls an install back, completes an uninstall), releases the lock and
///   reads. Like a database reader rolling back a hot journal.
/// - Writer live (lock busy) or the lock cannot be taken (no write access):
///   the reader reads the tree through the journal, so the transaction in
///   progress shows as recovery would leave it: an install in progress as
///   not installed, an uninstall whose plan is journaled as uninstalled.
///   It says on standard error that a change is in progress; standard
///   output keeps upstream's bytes.
/// - A writer starting (or ending) while the reader reads: the reader notices
///   (the lock file's modification time, written by every lock holder, or
///   the journal changed) and reads again, up to a few times; its output is
///   buffered until a read was stable.
/// - A dkms run by the writer itself (`DKMS_TREE_LOCK_HELD` naming an
///   ancestor that holds the lock: ``InheritedLock``; a script of the
///   transaction calling `dkms status`) sees the writer's own changes, as a
///   transaction sees its own writes. A variable that does not pass is
///   ignored: the reader follows the rules above.
extension Engine {
    /// What identifies the committed state a read started from.
    struct ReadGeneration: Equatable {
        /// The lock file's stamp (every holder writes its pid into it).
        var lock: String?
        /// The pending journal entries with their stamps.
        var journal: [String]
    }

    func readGeneration() -> ReadGeneration {
        // Never from a snapshot: the generation must see a change made
        // while the attempt read.
        FileSystemSnapshot.bypassing {
            ReadGeneration(lock: fileSystem.fileStamp(of: dkmsTree + "/.lock"),
                           journal: journal.pending().map { "\($0):" + (fileSystem.fileStamp(of: $0) ?? "-") })
        }
    }

    /// Runs a read-only `body` against the committed state, as the rule above
    /// says; its output reaches the console only once the read was stable.
    /// Each read runs on a reader (`body`'s argument) with that tree view
    /// and its own console; what it changes in the scope is this scope's,
    /// as the steps of one shell.
    func readingCommittedState<T>(_ body: (Engine) async -> T) async -> T {
        if settings.environment[TreeLock.heldVariable] != nil && CommandRunner(engine: self).ancestorHoldsTreeLock(TreeLock(dkmsTree: dkmsTree)) {
            return await body(self)
        }
        var result: T?
        var buffer = BufferedConsole()
        var note: String?
        for _ in 0..<5 {
            var before = readGeneration()
            if !before.journal.isEmpty {
                let lock = TreeLock(dkmsTree: dkmsTree)
                switch lock.tryAcquire() {
                case .acquired:
                    await recoverInterruptedTransactions()
                    lock.release()
                    before = readGeneration()
                    note = nil
                case .busy(let pid):
                    note = "dkms: a change by process \(pid) is in progress; showing the last committed state"
                case .unavailable:
                    note = "dkms: \(dkmsTree)/.journal holds an interrupted change (run dkms as root to settle it); showing the state it leaves"
                }
            } else {
                note = nil
            }
            var overlaid = tree
            overlaid.committedLinks = [:]
            overlaid.pendingOriginals = [:]
            if !before.journal.isEmpty { journal.overlayPending(onto: &overlaid) }
            buffer = BufferedConsole()
            result = await redirected(to: buffer) { reader in
                reader.cachedTree = overlaid
                return await body(reader)
            }
            if readGeneration() == before { break }
        }
        if let note { console.errorLine(note) }
        buffer.flush(to: console)
        return result!
    }

    /// Whether `m/original_module/K/A` exists once the pending entries are
    /// settled (status' "Original modules exist").
    func originalModulesExist(_ module: String, _ kernel: String, _ arch: String) -> Bool {
        let dir = tree.originalModulesDirectory(module, kernel, arch)
        guard fileSystem.isDirectory(dir) else { return false }
        guard let pending = tree.pendingOriginals[dir] else { return true }
        // An uninstall empties it; an install's rollback takes back what it archived.
        return fileSystem.findFiles(under: dir) { _ in true }.contains { !pending.contains($0) }
    }
}
