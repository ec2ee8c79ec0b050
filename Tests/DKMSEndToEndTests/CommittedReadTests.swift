import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// Beyond upstream: readers (status, status --json, --dry-run) report the
/// committed state, never the torn state of an interrupted or running
/// install/uninstall (docs/consistency.md).
@Suite("Committed reads", .serialized, .enabled(if: testingOurBinary, "features beyond upstream"))
struct CommittedReadTests {
    let sandbox = DKMSSandbox.withFakeKernel()
    let kernel = DKMSSandbox.fakeKernel
    let arch = DKMSSandbox.arch

    /// What an install killed after its copy and link leaves, before commit.
    func tornInstall(_ name: String) -> String {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: name, version: "1.0")])
        _ = sandbox.dkms(["build", "-k", kernel, "\(name)/1.0"])
        let dir = "\(sandbox.installTree)/\(kernel)/updates/dkms"
        let link = "\(sandbox.dkmsTree)/\(name)/kernel-\(kernel)-\(arch)"
        Files.makeDirectory(dir)
        try? FileManager.default.copyItem(atPath: "\(sandbox.dkmsTree)/\(name)/1.0/\(kernel)/\(arch)/module/\(name).ko",
                                          toPath: "\(dir)/\(name).ko")
        try? FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "1.0/\(kernel)/\(arch)")
        Files.write("begin\tinstall\t\(name)\t1.0\t\(kernel)\t\(arch)\ncopied\t\(dir)/\(name).ko\nlink\t\(link)\t\n",
                    to: sandbox.dkmsTree + "/.journal/install-1-1")
        return "\(dir)/\(name).ko"
    }

    @Test func statusSettlesAnInterruptedUninstallWhenTheLockIsFree() {
        let (_, link) = sandbox.tornUninstall("rdu")
        let r = sandbox.dkms(["status"])
        #expect(r.stdout == "rdu/1.0, \(kernel), \(arch): built\n")
        #expect(r.stderr == "dkms: completed an interrupted uninstall of rdu/1.0 for kernel \(kernel) (\(arch))\n")
        #expect(!Files.exists(link))
        #expect(!Files.exists(sandbox.dkmsTree + "/.journal"))
    }

    /// A reader that may not write the tree (not root) cannot settle the
    /// journal: it reads through it, shows the state settling leaves, says
    /// on stderr which journal holds the change, and changes nothing. Root's
    /// next read settles it and shows the same.
    @Test func aReaderWithoutWriteAccessReadsThroughTheJournal() throws {
        try #require(geteuid() == 0, "the reader switches to nobody")
        let (_, link) = sandbox.tornUninstall("rdn")
        chmod(sandbox.root.path, 0o755)
        let before = Files.fingerprint(sandbox.dkmsTree)
        let r = CommandRunner.run("/usr/bin/setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups",
                                                       DKMSBinary.path, "status"] + sandbox.treeOptions,
                                  environment: sandbox.environment.merging(["TMPDIR": "/tmp"]) { $1 }, workingDirectory: "/")
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == "rdn/1.0, \(kernel), \(arch): built\n")
        #expect(r.stderr == "dkms: \(sandbox.dkmsTree)/.journal holds an interrupted change (run dkms as root to settle it); showing the state it leaves\n")
        #expect(Files.fingerprint(sandbox.dkmsTree) == before, "the reader changed the tree")
        #expect(Files.exists(link))
        let settled = sandbox.dkms(["status"])
        #expect(settled.stdout == r.stdout)
        #expect(settled.stderr.hasPrefix("dkms: completed an interrupted uninstall"))
    }

    /// A reader that may list a directory but not search it (`r--`) sees
    /// what `lstat` lets it see, as upstream does: the status read's
    /// snapshot (``FileSystemSnapshot``) does not answer from a listing for
    /// entries that cannot be stat'ed. Before, `rdv` showed as broken.
    @Test func aReaderThatCannotSearchADirectorySeesWhatUpstreamSees() throws {
        try #require(geteuid() == 0, "the reader switches to nobody")
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "rdv", version: "1.0")])
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "rdw", version: "1.0")])
        chmod(sandbox.root.path, 0o755)
        chmod(sandbox.dkmsTree + "/rdv", 0o744)
        defer { chmod(sandbox.dkmsTree + "/rdv", 0o755) }
        let r = CommandRunner.run("/usr/bin/setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups",
                                                       DKMSBinary.path, "status"] + sandbox.treeOptions,
                                  environment: sandbox.environment.merging(["TMPDIR": "/tmp"]) { $1 }, workingDirectory: "/")
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == "rdw/1.0: added\n")
        #expect(r.stderr.isEmpty)
    }

    @Test func statusJSONRollsBackAnInterruptedInstallWhenTheLockIsFree() {
        let copy = tornInstall("rdi")
        let r = sandbox.dkms(["status", "--json"])
        #expect(r.stdout.contains("\"state\": \"built\""))
        #expect(r.stderr == "dkms: rolled back an interrupted install of rdi/1.0 for kernel \(kernel) (\(arch))\n")
        #expect(!Files.exists(copy))
    }

    @Test func statusReadsThroughTheJournalOfALiveWriter() throws {
        let (_, link) = sandbox.tornUninstall("rdl")
        let holder = try sandbox.holdTreeLock(seconds: 3)
        let start = Date()
        let text = sandbox.dkms(["status"])
        let json = sandbox.dkms(["status", "--json"])
        #expect(Date().timeIntervalSince(start) < 2)
        holder.waitUntilExit()
        #expect(text.status == 0)
        #expect(text.stdout == "rdl/1.0, \(kernel), \(arch): built\n")
        #expect(text.stderr.hasPrefix("dkms: a change by process "))
        #expect(text.stderr.hasSuffix(" is in progress; showing the last committed state\n"))
        #expect(json.stdout.contains("\"state\": \"built\""))
        #expect(json.stdout.contains("\"differences\": false"))
        // The reader changed nothing: the writer's journal is still there.
        #expect(Files.exists(link))
        #expect(Files.exists(sandbox.dkmsTree + "/.journal/uninstall-1-1"))
    }

    @Test func anInstallInProgressIsNotInstalledForReaders() throws {
        _ = tornInstall("rdp")
        let holder = try sandbox.holdTreeLock(seconds: 3)
        let text = sandbox.dkms(["status"])
        let plan = sandbox.dkms(["uninstall", "-k", kernel, "rdp/1.0", "--dry-run"])
        holder.waitUntilExit()
        #expect(text.stdout == "rdp/1.0, \(kernel), \(arch): built\n")
        #expect(!plan.stdout.contains("Would uninstall"), "\(plan)")
    }

    /// The writer here is a shell holding the lock (its PID in the lock
    /// file, as dkms writes it) that runs `dkms status` as its child.
    @Test func aCommandOfTheWriterItselfSeesItsOwnChanges() {
        _ = sandbox.tornUninstall("rdo")
        let lock = sandbox.dkmsTree + "/.lock"
        let dkms = ([DKMSBinary.path, "status"] + sandbox.treeOptions).map { "'\($0)'" }.joined(separator: " ")
        let r = CommandRunner.run("/bin/sh", ["-c", "exec 9>>'\(lock)'; flock 9; echo $$ > '\(lock)'; \(TreeLock.heldVariable)=$$ \(dkms)"],
                                  environment: sandbox.environment)
        #expect(r.stdout == "rdo/1.0, \(kernel), \(arch): installed (Differences between built and installed modules)\n", "\(r)")
        #expect(r.stderr == "")
        #expect(Files.exists(sandbox.dkmsTree + "/.journal/uninstall-1-1"))
    }

    /// A variable that names no holder of the lock (leaked into the
    /// environment) is ignored: the reader settles the journal as usual.
    @Test func aLeakedVariableDoesNotShowATornState() {
        _ = sandbox.tornUninstall("rdl")
        sandbox.environment[TreeLock.heldVariable] = "1"
        let r = sandbox.dkms(["status"])
        #expect(r.stdout == "rdl/1.0, \(kernel), \(arch): built\n", "\(r)")
        #expect(!Files.exists(sandbox.dkmsTree + "/.journal/uninstall-1-1"))
    }
}
