import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// Beyond upstream: `DKMS_TREE_LOCK_HELD` lets a dkms run by the lock holder
/// itself (a script calling dkms) skip the tree lock, and nothing else: a
/// leaked or stale value does not let a writer run beside another writer
/// (docs/consistency.md, "Nested commands").
@Suite("Nested commands and the tree lock", .serialized, .enabled(if: testingOurBinary, "features beyond upstream"))
struct NestedLockTests {
    let sandbox = DKMSSandbox.withFakeKernel()
    let kernel = DKMSSandbox.fakeKernel
    let arch = DKMSSandbox.arch

    /// The command line of the dkms under test, for a script.
    var dkmsCommand: String {
        ([DKMSBinary.path] + sandbox.treeOptions).map { "'\($0)'" }.joined(separator: " ")
    }

    /// A stale holder's PID, init (an ancestor of everyone), the test
    /// runner (an ancestor of the dkms it runs), a dead PID with a start
    /// time, and no PID at all: none holds the lock.
    @Test(arguments: ["1", String(getpid()), "4194300:12345:4026531836", "yes"])
    func aWriterWithALeakedVariableWaitsForTheLock(value: String) throws {
        let module = sandbox.writeModule(name: "leak", version: "1.0")
        _ = sandbox.dkms(["status"])
        let holder = try sandbox.holdTreeLock(seconds: 2)
        sandbox.environment[TreeLock.heldVariable] = value
        let start = Date()
        let r = sandbox.dkms(["add", module])
        let elapsed = Date().timeIntervalSince(start)
        holder.waitUntilExit()
        #expect(r.status == 0, "\(r)")
        #expect(elapsed > 1.4, "the add finished while another process held the lock")
        #expect(r.stderr.hasPrefix("dkms: waiting for the lock on \(sandbox.dkmsTree) held by process "), "\(r)")
        #expect(sandbox.dkms(["status"]).stdout == "leak/1.0: added\n")
    }

    /// A leaked variable does not stop the next writer from settling what
    /// a killed one left.
    @Test func aWriterWithALeakedVariableSettlesTheJournal() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "jrl", version: "1.0")])
        _ = sandbox.dkms(["build", "-k", kernel, "jrl/1.0"])
        let installed = "\(sandbox.installTree)/\(kernel)/updates/dkms/jrl.ko"
        Files.write("half", to: installed)
        Files.write("begin\tinstall\tjrl\t1.0\t\(kernel)\t\(arch)\ncopied\t\(installed)\n", to: sandbox.dkmsTree + "/.journal/install-1-1")
        sandbox.environment[TreeLock.heldVariable] = String(getpid())
        let r = sandbox.dkms(["unbuild", "-k", kernel, "jrl/1.0"])
        #expect(r.stderr == "dkms: rolled back an interrupted install of jrl/1.0 for kernel \(kernel) (\(arch))\n", "\(r)")
        #expect(!Files.exists(sandbox.dkmsTree + "/.journal"))
    }

    /// A shared `flock` on the tree directory held for `seconds`: what a
    /// nested writer holds while it runs (here one whose holder is gone).
    func holdNested(seconds: Int) throws -> Process {
        try sandbox.holdFlock(sandbox.dkmsTree, shared: true, seconds: seconds)
    }

    /// A nested writer outliving a holder that was killed: the next writer
    /// waits for it before it settles the journal and changes the trees.
    @Test func aWriterWaitsForANestedWriterOfAGoneHolder() throws {
        let module = sandbox.writeModule(name: "strag", version: "1.0")
        _ = sandbox.dkms(["status"])
        let nested = try holdNested(seconds: 2)
        let start = Date()
        let r = sandbox.dkms(["add", module])
        let elapsed = Date().timeIntervalSince(start)
        nested.waitUntilExit()
        #expect(r.status == 0, "\(r)")
        #expect(elapsed > 1.4, "the add ran beside a nested writer")
    }

    /// Nor does a reader settle the journal under such a nested writer: it
    /// reads through the journal, as under a live writer.
    @Test func aReaderDoesNotSettleTheJournalUnderANestedWriter() throws {
        _ = sandbox.tornUninstall("rdn")
        let nested = try holdNested(seconds: 3)
        let start = Date()
        let r = sandbox.dkms(["status"])
        let elapsed = Date().timeIntervalSince(start)
        nested.waitUntilExit()
        #expect(elapsed < 2, "status waited")
        #expect(r.stdout == "rdn/1.0, \(kernel), \(arch): built\n", "\(r)")
        #expect(r.stderr.hasSuffix("is in progress; showing the last committed state\n"), "\(r)")
        #expect(Files.exists(sandbox.dkmsTree + "/.journal/uninstall-1-1"))
    }

    /// A POST_INSTALL script of the holder runs a reader and a writer: neither
    /// waits for the lock its parent holds (a deadlock would end in the
    /// script's timeout).
    @Test func aScriptOfTheHolderRunsDkmsWithoutWaiting() {
        let inner = sandbox.writeModule(name: "inner", version: "1.0")
        let log = sandbox.root.path + "/nested.log"
        let outer = sandbox.writeModule(name: "outer", version: "1.0", conf: """
            PACKAGE_NAME=outer
            PACKAGE_VERSION=1.0
            BUILT_MODULE_NAME[0]=outer
            DEST_MODULE_LOCATION[0]=/extra
            POST_INSTALL=nested.sh
            """)
        Files.write("""
            #!/bin/sh
            timeout 20 \(dkmsCommand) status > '\(log)' 2>&1; echo "status=$?" >> '\(log)'
            timeout 20 \(dkmsCommand) add '\(inner)' >> '\(log)' 2>&1; echo "add=$?" >> '\(log)'

            """, to: outer + "/nested.sh", executable: true)
        _ = sandbox.dkms(["add", outer])
        let start = Date()
        let r = sandbox.dkms(["install", "-k", kernel, "outer/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(Date().timeIntervalSince(start) < 15)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("status=0\n") && text.contains("add=0\n"), "\(text)")
        #expect(!text.contains("waiting for the lock"), "\(text)")
        #expect(sandbox.dkms(["status"]).stdout == "inner/1.0: added\nouter/1.0, \(kernel), \(arch): installed\n")
    }

    /// A writer a script of the holder starts in the background (outliving
    /// the script) still runs alone: the holder releases the lock only once
    /// it has ended.
    @Test func aBackgroundWriterOfTheHolderEndsBeforeTheLockIsReleased() {
        let slow = sandbox.writeModule(name: "slow", version: "1.0", conf: """
            PACKAGE_NAME=slow
            PACKAGE_VERSION=1.0
            BUILT_MODULE_NAME[0]=slow
            DEST_MODULE_LOCATION[0]=/extra
            PRE_BUILD=slow.sh
            """)
        Files.write("#!/bin/sh\nsleep 4\n", to: slow + "/slow.sh", executable: true)
        _ = sandbox.dkms(["add", slow])
        let outer = sandbox.writeModule(name: "bg", version: "1.0", conf: """
            PACKAGE_NAME=bg
            PACKAGE_VERSION=1.0
            BUILT_MODULE_NAME[0]=bg
            DEST_MODULE_LOCATION[0]=/extra
            POST_INSTALL=background.sh
            """)
        Files.write("""
            #!/bin/sh
            \(dkmsCommand) build -k '\(kernel)' slow/1.0 > /dev/null 2>&1 &
            # Until the build has joined the lock (at most 3 s): then it no
            # longer needs this script as its parent.
            for i in $(seq 30); do flock -n -x '\(sandbox.dkmsTree)' true || break; sleep 0.1; done

            """, to: outer + "/background.sh", executable: true)
        _ = sandbox.dkms(["add", outer])
        let r = sandbox.dkms(["install", "-k", kernel, "bg/1.0"])
        #expect(r.status == 0, "\(r)")
        // Right when the holder ends, the background build has ended too.
        #expect(sandbox.dkms(["status", "slow/1.0"]).stdout == "slow/1.0, \(kernel), \(arch): built\n")
    }
}
