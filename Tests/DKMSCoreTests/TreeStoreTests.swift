#if canImport(Glibc)
import Glibc
#endif
import DKMSTestSupport
import Testing
@testable import DKMSCore

/// The dkms tree's paths and states, and the journal, constructed directly
/// on a tree laid out by hand.
@Suite("Tree and journal")
struct TreeStoreTests {
    let directory = TemporaryDirectory()

    func tree() -> DKMSTree {
        DKMSTree(root: directory.child("dkms"), sourceTree: directory.child("src"))
    }

    @Test func pathsFollowUpstreamsLayout() {
        let tree = DKMSTree(root: "/var/lib/dkms", sourceTree: "/usr/src")
        #expect(tree.sourceDirectory("m", "1") == "/var/lib/dkms/m/1/source")
        #expect(tree.buildDirectory("m", "1") == "/var/lib/dkms/m/1/build")
        #expect(tree.builtDirectory("m", "1", "K", "A") == "/var/lib/dkms/m/1/K/A")
        #expect(tree.activeLink("m", "K", "A") == "/var/lib/dkms/m/kernel-K-A")
    }

    @Test func aBusyLockNamesItsHolderFromTheLockFile() throws {
        _ = FileSystem.makeDirectories(directory.child("dkms"))
        let holder = TreeLock(dkmsTree: directory.child("dkms"))
        #expect(holder.acquire { _ in Issue.record("a free lock does not wait") })
        // flock is per open file: a second lock in this process conflicts.
        let other = TreeLock(dkmsTree: directory.child("dkms"))
        #expect(other.tryAcquire() == .busy(getpid()))
        holder.release()
        #expect(other.tryAcquire() == .acquired)
        other.release()
        #expect(TreeLock(dkmsTree: directory.child("none")).tryAcquire() == .unavailable)
    }

    @Test func statesComeFromTheFiles() {
        let tree = tree()
        Files.write("PACKAGE_NAME=m\n", to: directory.child("src/m-1/dkms.conf"))
        _ = FileSystem.makeDirectories(tree.versionDirectory("m", "1"))
        _ = FileSystem.symlink(target: directory.child("src/m-1"), at: tree.sourceDirectory("m", "1"))
        #expect(tree.isAdded("m", "1"))
        #expect(!tree.isBuilt("m", "1", "6.1.0-1-amd64", "A"))
        Files.write("ko", to: tree.builtDirectory("m", "1", "6.1.0-1-amd64", "A") + "/module/m.ko")
        #expect(tree.isBuilt("m", "1", "6.1.0-1-amd64", "A"))
        #expect(!tree.isInstalled("m", "1", "6.1.0-1-amd64", "A"))
        _ = FileSystem.symlink(target: "1/6.1.0-1-amd64/A", at: tree.activeLink("m", "6.1.0-1-amd64", "A"))
        #expect(tree.isInstalled("m", "1", "6.1.0-1-amd64", "A"))
        #expect(tree.status() == [.built(module: "m", version: "1", kernel: "6.1.0-1-amd64", arch: "A", state: .installed)])
        // A build's private directory is not a kernel.
        _ = FileSystem.makeDirectories(tree.versionDirectory("m", "1") + "/.build_6.1.0-2-amd64_A_123456/x")
        #expect(tree.builtEntries("m", "1").map(\.kernel) == ["6.1.0-1-amd64"])
        FileSystem.removeTree(directory.child("src/m-1"))
        #expect(tree.isBroken("m", "1"))
    }

    @Test func aCommittedEntryLeavesNothingPending() {
        let journal = Journal(dkmsTree: directory.child("dkms"))
        let entry = journal.begin("install", module: "m", version: "1", kernel: "K", arch: "A")
        entry.record("copy", "/a", "/b")
        #expect(journal.pending() == [entry.path])
        #expect(journal.steps(of: entry.path) == [["begin", "install", "m", "1", "K", "A"], ["copy", "/a", "/b"]])
        let stashed = entry.stashPath()
        Files.write("x", to: stashed)
        journal.commit(entry)
        #expect(journal.pending().isEmpty)
        #expect(!FileSystem.exists(stashed))
        #expect(!FileSystem.exists(journal.directory))
    }
}
