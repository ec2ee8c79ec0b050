import DKMSTestSupport
import Testing
@testable import DKMSCore

/// When `DKMS_TREE_LOCK_HELD` lets a dkms skip the tree lock: only when it
/// names an ancestor that holds the lock now, checked over a fake `/proc`.
@Suite("Inherited tree lock")
struct InheritedLockTests {
    let files = InMemoryFileSystem()

    /// A fake `/proc/PID`: its parent, start time and PID namespace.
    func process(_ pid: Int32, parent: Int32, start: UInt64, comm: String = "dkms", namespace: UInt64 = 4026531836) {
        let fields = ["S", "\(parent)"] + Array(repeating: "0", count: 17) + ["\(start)", "0", "0"]
        files.create("\(pid) (\(comm)) " + fields.joined(separator: " ") + "\n", at: "/proc/\(pid)/stat")
        files.makeDirectories("/proc/\(pid)/ns")
        files.symlink(target: "pid:[\(namespace)]", at: "/proc/\(pid)/ns/pid")
    }

    /// init (1) → sshd (100) → dkms holder (200) → sh (300) → nested dkms
    /// (400); an unrelated shell (500) under init.
    init() {
        process(1, parent: 0, start: 1, comm: "systemd")
        process(100, parent: 1, start: 50, comm: "sshd: root (priv)")
        process(200, parent: 100, start: 900)
        process(300, parent: 200, start: 950, comm: "sh")
        process(400, parent: 300, start: 960)
        process(500, parent: 1, start: 970, comm: "bash")
    }

    @Test func theHolderHandsItsPIDStartAndNamespace() {
        #expect(InheritedLock.value(for: 200, fileSystem: files) == "200:900:4026531836")
        #expect(InheritedLock.processStat(100, fileSystem: files)?.parent == 1)
        #expect(InheritedLock.processStat(100, fileSystem: files)?.start == 50)
        #expect(InheritedLock.value(for: 999, fileSystem: files) == "999")
    }

    @Test func aChildOfTheHolderWhileItHoldsTheLockSkipsIt() {
        #expect(InheritedLock.trusts("200:900:4026531836", lockHolder: 200, pid: 400, fileSystem: files))
        #expect(InheritedLock.trusts("200:900", lockHolder: 200, pid: 400, fileSystem: files))
        #expect(InheritedLock.trusts("200", lockHolder: 200, pid: 300, fileSystem: files))
    }

    @Test(arguments: [
        ("200:900:4026531836", nil, 400, "the lock is free (the holder released it)"),
        ("200:900:4026531836", 500, 400, "the lock is held by another process"),
        ("200:900:4026531836", 0, 400, "the lock file names no process"),
        ("200:901:4026531836", 200, 400, "the PID was reused by another process"),
        ("200:900:4026531836", 200, 500, "the holder is no ancestor"),
        ("777:900:4026531836", 777, 400, "the holder is dead"),
        ("1", 200, 400, "init is an ancestor but holds nothing"),
        ("", 200, 400, "empty"),
        ("-200", 200, 400, "not a PID"),
        ("200:x", 200, 400, "not a start time"),
        ("200:900:1:2", 200, 400, "too many fields"),
    ] as [(String, Int32?, Int32, String)])
    func anyOtherValueIsIgnored(value: String, holder: Int32?, pid: Int32, why: String) {
        #expect(!InheritedLock.trusts(value, lockHolder: holder, pid: pid, fileSystem: files), "\(why)")
    }

    @Test func aMissingVariableIsIgnored() {
        #expect(!InheritedLock.trusts(nil, lockHolder: 200, pid: 400, fileSystem: files))
    }

    @Test func aParentLoopEnds() {
        process(600, parent: 601, start: 1)
        process(601, parent: 600, start: 1)
        #expect(!InheritedLock.isAncestor(200, start: nil, of: 600, fileSystem: files))
    }

    /// Without /proc, or in another PID namespace than the holder, ancestry
    /// cannot be checked: the lock file alone decides, so that a nested
    /// command does not wait for its own parent.
    @Test func undecidableAncestryLeavesTheLockFileToDecide() {
        let empty = InMemoryFileSystem()
        #expect(InheritedLock.trusts("200:900:4026531836", lockHolder: 200, pid: 400, fileSystem: empty))
        #expect(!InheritedLock.trusts("200:900:4026531836", lockHolder: 201, pid: 400, fileSystem: empty))
        process(700, parent: 1, start: 999, namespace: 4026532000)
        #expect(InheritedLock.trusts("200:900:4026531836", lockHolder: 200, pid: 700, fileSystem: files))
        #expect(!InheritedLock.trusts("200:900:4026531836", lockHolder: nil, pid: 700, fileSystem: files))
    }
}
