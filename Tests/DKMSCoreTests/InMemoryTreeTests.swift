import DKMSTestSupport
import Testing
@testable import DKMSCore

/// The tree store, the journal and the failure records over an in-memory
/// file system: no directory on disk, every state laid out and inspected
/// through ``InMemoryFileSystem``.
@Suite("Tree store and journal in memory")
struct InMemoryTreeTests {
    let files = InMemoryFileSystem()
    let kernel = "6.1.0-1-amd64"

    var tree: DKMSTree { DKMSTree(root: "/var/lib/dkms", sourceTree: "/usr/src", fileSystem: files) }
    var journal: Journal { Journal(dkmsTree: "/var/lib/dkms", fileSystem: files) }

    /// `dkms add`: the source and the version directory linking to it.
    func add(_ module: String, _ version: String) {
        files.create("PACKAGE_NAME=\(module)\n", at: "/usr/src/\(module)-\(version)/dkms.conf")
        files.makeDirectories(tree.versionDirectory(module, version))
        files.symlink(target: "/usr/src/\(module)-\(version)", at: tree.sourceDirectory(module, version))
    }

    /// `dkms build`: a built module for a kernel.
    func build(_ module: String, _ version: String, _ kernel: String) {
        files.create("ko", at: tree.builtDirectory(module, version, kernel, "x86_64") + "/module/\(module).ko")
    }

    /// `dkms install`: the active link.
    func activate(_ module: String, _ version: String, _ kernel: String) {
        files.replaceSymlink(at: tree.activeLink(module, kernel, "x86_64"), target: "\(version)/\(kernel)/x86_64")
    }

    // MARK: The in-memory file system itself

    @Test func modesTemporaryNamesAndIdentitiesBehaveLikeTheDisk() {
        files.create("#!/bin/sh\n", at: "/bin/script")
        #expect(files.mode(of: "/bin/script") == 0o644 && !files.isExecutable("/bin/script"))
        #expect(files.setMode(0o755, of: "/bin/script") && files.isExecutable("/bin/script"))
        #expect(files.rename("/bin/script", to: "/bin/moved") && files.mode(of: "/bin/moved") == 0o755, "a mode moves with its file")
        let first = files.makeTemporaryDirectory(template: "/bin/tmp.XXXXXX")
        let second = files.makeTemporaryDirectory(template: "/bin/tmp.XXXXXX")
        #expect(first != nil && second != nil && first != second && files.isDirectory(first ?? ""))
        #expect(files.makeTemporaryFile(template: "/nowhere/f.XXXXXX") == nil, "mkstemp wants the directory")
        #expect(files.writeBytesAtomically(Array("x".utf8), to: "/bin/new", mode: 0o600) && files.mode(of: "/bin/new") == 0o600)
        #expect(files.identity(of: "/bin/new") != nil && files.identity(of: "/bin/new") != files.identity(of: "/bin/moved"))
        #expect(files.isEmptyDirectory(first ?? "") && !files.isEmptyDirectory("/bin"))
        files.failsWrites = true
        #expect(!files.setMode(0o700, of: "/bin/new") && !files.isWritable("/bin/new"))
    }

    @Test func linksAreFollowedLikeTheKernelFollowsThem() {
        files.create("text", at: "/a/b/file")
        #expect(files.symlink(target: "b", at: "/a/c"))
        #expect(files.isDirectory("/a/c") && files.isSymlink("/a/c") && !files.isSymlink("/a/b"))
        #expect(files.readText("/a/c/file") == "text")
        #expect(files.canonicalPath("/a/c/file") == "/a/b/file")
        #expect(files.canonicalPath("/a/c/missing") == "/a/b/missing")
        #expect(files.canonicalPath("/nowhere/x") == nil)
        #expect(files.symlink(target: "/loop", at: "/loop") && !files.exists("/loop") && files.existsNoFollow("/loop"))
        #expect(files.entries(of: "/a") == ["b", "c"])
        #expect(!files.removeDirectory("/a/b"), "rmdir wants an empty directory")
        #expect(files.rename("/a/b", to: "/d"))
        #expect(files.readText("/d/file") == "text" && !files.exists("/a/c/file"))
        files.removeTree("/d")
        #expect(files.allPaths == ["/", "/a", "/a/c", "/loop"])
    }

    // MARK: The tree store

    @Test func addedBuiltAndInstalledComeFromTheFiles() {
        let tree = tree
        #expect(tree.status().isEmpty)
        add("m", "1")
        #expect(tree.isAdded("m", "1") && !tree.isBroken("m", "1"))
        #expect(tree.status() == [.added(module: "m", version: "1")])
        build("m", "1", kernel)
        #expect(tree.isBuilt("m", "1", kernel, "x86_64") && !tree.isInstalled("m", "1", kernel, "x86_64"))
        #expect(tree.status() == [.built(module: "m", version: "1", kernel: kernel, arch: "x86_64", state: .built)])
        activate("m", "1", kernel)
        #expect(tree.isInstalled("m", "1", kernel, "x86_64"))
        #expect(tree.status() == [.built(module: "m", version: "1", kernel: kernel, arch: "x86_64", state: .installed)])
    }

    @Test func anActiveLinkToAnotherVersionInstallsThatVersionOnly() {
        add("m", "1")
        add("m", "2")
        build("m", "1", kernel)
        build("m", "2", kernel)
        activate("m", "2", kernel)
        let tree = tree
        #expect(!tree.isActive("m", "1", kernel, "x86_64"))
        #expect(tree.isActive("m", "2", kernel, "x86_64"))
        // The link is not a version, and the order is the glob's.
        #expect(tree.moduleVersions().map { "\($0.module)/\($0.version)" } == ["m/1", "m/2"])
        #expect(tree.status(version: "2") == [.built(module: "m", version: "2", kernel: kernel, arch: "x86_64", state: .installed)])
        #expect(tree.status(kernel: "6.1.0-2-amd64") == [.added(module: "m", version: "1"), .added(module: "m", version: "2")])
    }

    /// The resolution status takes as path arithmetic for the links dkms
    /// makes must agree with `readlink -f` whenever a directory on the way
    /// is itself a link (then the link lands in another version's build).
    @Test func theActiveLinkResolvesAsReadlinkDoesThroughLinkedDirectories() {
        for version in ["1.0", "2.0"] {
            add("m", version)
            build("m", version, kernel)
        }
        activate("m", "1.0", kernel)
        #expect(tree.isActive("m", "1.0", kernel, "x86_64") && !tree.isActive("m", "2.0", kernel, "x86_64"))
        #expect(tree.builtEntries("m", "1.0").map(\.state) == [.installed])

        // m/1.0/K is a link to m/2.0/K: kernel-K-A -> 1.0/K/A lands in 2.0.
        files.removeTree(tree.versionDirectory("m", "1.0") + "/\(kernel)")
        files.symlink(target: "../2.0/\(kernel)", at: tree.versionDirectory("m", "1.0") + "/\(kernel)")
        #expect(!tree.isActive("m", "1.0", kernel, "x86_64") && tree.isActive("m", "2.0", kernel, "x86_64"))
        #expect(tree.builtEntries("m", "1.0").map(\.state) == [.built])
        #expect(tree.builtEntries("m", "2.0").map(\.state) == [.installed])

        // The arch directory a link instead.
        files.removeTree(tree.versionDirectory("m", "1.0") + "/\(kernel)")
        build("m", "1.0", kernel)
        files.removeTree(tree.builtDirectory("m", "1.0", kernel, "x86_64"))
        files.symlink(target: "../../2.0/\(kernel)/x86_64", at: tree.builtDirectory("m", "1.0", kernel, "x86_64"))
        #expect(!tree.isActive("m", "1.0", kernel, "x86_64") && tree.isActive("m", "2.0", kernel, "x86_64"))

        // The version directory a link to another version's.
        files.removeTree(tree.versionDirectory("m", "1.0"))
        files.symlink(target: "2.0", at: tree.versionDirectory("m", "1.0"))
        #expect(!tree.isActive("m", "1.0", kernel, "x86_64") && tree.isActive("m", "2.0", kernel, "x86_64"))
        #expect(tree.builtEntries("m", "1.0").map(\.state) == [.built])
    }

    @Test func statusFiltersAndSkipsWhatIsNotABuild() {
        add("a", "1")
        add("b", "1")
        build("b", "1", kernel)
        files.makeDirectories(tree.versionDirectory("b", "1") + "/.build_6.1.0-2-amd64_x86_64_123456/x")
        files.makeDirectories(tree.builtDirectory("b", "1", "6.1.0-3-amd64", "x86_64"))
        let tree = tree
        #expect(tree.builtEntries("b", "1").map(\.kernel) == [kernel], "no module directory, no build")
        #expect(tree.status(module: "b") == [.built(module: "b", version: "1", kernel: kernel, arch: "x86_64", state: .built)])
        #expect(tree.status().map(\.module) == ["a", "b"])
    }

    @Test func aVersionWithoutItsSourceIsBroken() {
        add("m", "1")
        files.removeTree("/usr/src/m-1")
        #expect(tree.isBroken("m", "1") && !tree.isAdded("m", "1"))
        #expect(tree.status() == [.broken(module: "m", version: "1")])
        // A copied (not linked) source while /usr/src still has it: broken too.
        files.removeFile(tree.sourceDirectory("m", "1"))
        files.makeDirectories(tree.sourceDirectory("m", "1"))
        files.makeDirectories("/usr/src/m-1")
        #expect(tree.isBroken("m", "1"))
    }

    @Test func committedLinksOverrideTheFiles() {
        add("m", "1")
        build("m", "1", kernel)
        activate("m", "1", kernel)
        var view = tree
        view.committedLinks[view.activeLink("m", kernel, "x86_64")] = ""
        #expect(!view.isInstalled("m", "1", kernel, "x86_64"))
        view.committedLinks[view.activeLink("m", kernel, "x86_64")] = "1/\(kernel)/x86_64"
        #expect(view.isInstalled("m", "1", kernel, "x86_64"))
    }

    // MARK: The journal

    @Test func anEntryIsRecordedReadAndCommitted() {
        let journal = journal
        let entry = journal.begin("install", module: "m", version: "1", kernel: kernel, arch: "x86_64")
        entry.recordAll([["copied", "/a"], ["link", "/l", ""]])
        #expect(entry.failure == nil)
        #expect(throws: Never.self) { try entry.requireRecorded() }
        #expect(journal.pending() == [entry.path])
        #expect(journal.steps(of: entry.path) == [["begin", "install", "m", "1", kernel, "x86_64"], ["copied", "/a"], ["link", "/l", ""]])
        let stashed = entry.stashPath()
        #expect(stashed == entry.stash + "/1" && entry.stashPath() == entry.stash + "/2")
        files.writeText("x", to: stashed)
        journal.commit(entry)
        #expect(journal.pending().isEmpty)
        #expect(!files.existsNoFollow(journal.directory), "the journal directory goes with its last entry")
    }

    @Test func aRecordThatCannotBeWrittenIsAFailure() {
        let entry = journal.begin("uninstall", module: "m", version: "1", kernel: kernel, arch: "x86_64")
        files.failsWrites = true
        entry.record("delete", "/x")
        entry.record("unlink", "/y")
        #expect(entry.failure == "Read-only file system")
        #expect(throws: DKMSError.self) { try entry.requireRecorded() }
        files.failsWrites = false
        #expect(journal.steps(of: entry.path).count == 1, "the failed steps are not in the entry")
    }

    @Test func anInstallIsRolledBackNewestStepFirst() {
        let journal = journal
        files.create("theirs", at: "/lib/modules/K/updates/m.ko")
        files.create("kernel's own", at: "/lib/modules/K/kernel/m.ko")
        files.makeDirectories("/var/lib/dkms/m")
        files.symlink(target: "0/K/x86_64", at: "/var/lib/dkms/m/kernel-K-x86_64")
        let entry = journal.begin("install", module: "m", version: "1", kernel: "K", arch: "x86_64")
        // Moved aside, replaced by a copy, the original archived, the link switched.
        let saved = entry.stashPath()
        entry.record("saved", "/lib/modules/K/updates/m.ko", saved)
        files.rename("/lib/modules/K/updates/m.ko", to: saved)
        entry.record("copied", "/lib/modules/K/updates/m.ko")
        files.writeText("ours", to: "/lib/modules/K/updates/m.ko")
        files.writeText("partial", to: "/lib/modules/K/updates/.m.ko.dkms-new.42")
        let archived = "/var/lib/dkms/m/original_module/K/x86_64/m.ko"
        entry.record("archived", "/lib/modules/K/kernel/m.ko", archived)
        files.makeDirectories(FileSystem.split(archived).directory)
        files.rename("/lib/modules/K/kernel/m.ko", to: archived)
        files.writeText("/lib/modules/K/kernel/m.ko", to: archived + ".origin")
        entry.record("link", "/var/lib/dkms/m/kernel-K-x86_64", "0/K/x86_64")
        files.replaceSymlink(at: "/var/lib/dkms/m/kernel-K-x86_64", target: "1/K/x86_64")

        // A reader sees it as rolled back before it is.
        var view = tree
        journal.overlayPending(onto: &view)
        #expect(view.committedLinks == ["/var/lib/dkms/m/kernel-K-x86_64": "0/K/x86_64"])
        #expect(view.pendingOriginals["/var/lib/dkms/m/original_module/K/x86_64"] == [archived, archived + ".origin"])

        let settled = journal.settle(entry.path, in: tree)
        #expect(settled == Journal.Transaction(steps: [["begin", "install", "m", "1", "K", "x86_64"]]))
        #expect(settled?.kind == "install" && settled?.version == "1")
        #expect(files.readText("/lib/modules/K/updates/m.ko") == "theirs")
        #expect(files.entries(of: "/lib/modules/K/updates") == ["m.ko"], "the partial copy is gone")
        #expect(files.readText("/lib/modules/K/kernel/m.ko") == "kernel's own")
        #expect(files.entries(of: "/var/lib/dkms/m/original_module").isEmpty, "emptied archive directories go")
        #expect(files.readLink("/var/lib/dkms/m/kernel-K-x86_64") == "0/K/x86_64")
        #expect(journal.pending().isEmpty && !files.existsNoFollow(entry.stash))
    }

    @Test func anInstallThatHadNoLinkLeavesNone() {
        files.symlink(target: "1/K/A", at: "/l")
        journal.rollBackInstall([["link", "/l", ""]])
        #expect(!files.existsNoFollow("/l"))
    }

    @Test func anUninstallIsCompletedAndCompletingAgainChangesNothing() {
        add("m", "1")
        build("m", "1", kernel)
        activate("m", "1", kernel)
        files.create("ours", at: "/lib/modules/\(kernel)/updates/m.ko")
        let archived = "/var/lib/dkms/m/original_module/\(kernel)/x86_64/m.ko"
        files.create("kernel's own", at: archived)
        files.writeText("/lib/modules/\(kernel)/kernel/m.ko", to: archived + ".origin")
        files.makeDirectories("/lib/modules/\(kernel)/kernel")
        let entry = journal.begin("uninstall", module: "m", version: "1", kernel: kernel, arch: "x86_64")
        entry.recordAll([
            ["delete", "/lib/modules/\(kernel)/updates/m.ko"],
            ["restore", archived, "/lib/modules/\(kernel)/kernel/m.ko"],
            ["unlink", tree.activeLink("m", kernel, "x86_64")],
        ])
        var view = tree
        journal.overlayPending(onto: &view)
        #expect(!view.isInstalled("m", "1", kernel, "x86_64"), "a reader sees it uninstalled already")
        #expect(tree.isInstalled("m", "1", kernel, "x86_64"))

        let steps = journal.steps(of: entry.path)
        #expect(journal.settle(entry.path, in: tree)?.kind == "uninstall")
        let after = files.allPaths
        #expect(!files.exists("/lib/modules/\(kernel)/updates/m.ko"))
        #expect(files.readText("/lib/modules/\(kernel)/kernel/m.ko") == "kernel's own")
        #expect(!files.existsNoFollow(tree.activeLink("m", kernel, "x86_64")))
        #expect(!files.existsNoFollow(tree.originalModulesDirectory("m")))
        #expect(tree.status() == [.built(module: "m", version: "1", kernel: kernel, arch: "x86_64", state: .built)])
        journal.completeUninstall(steps)
        #expect(files.allPaths == after)
    }

    @Test func anUninstallKilledBeforeItsPlanStillDeactivates() {
        add("m", "1")
        build("m", "1", "K")
        activate("m", "1", "K")
        let entry = journal.begin("uninstall", module: "m", version: "1", kernel: "K", arch: "x86_64")
        // Only the begin line: nothing to redo, and a reader sees no change.
        var view = tree
        journal.overlayPending(onto: &view)
        #expect(view.committedLinks.isEmpty)
        #expect(journal.settle(entry.path, in: tree)?.kind == "uninstall")
        #expect(tree.isInstalled("m", "1", "K", "x86_64"), "no plan, no step: the link stays")
    }

    @Test func anEntryWithoutABeginLineIsDropped() {
        files.create("cop", at: journal.directory + "/install-1-2")
        files.create("x", at: journal.directory + "/install-1-2.d/1")
        #expect(journal.pending() == [journal.directory + "/install-1-2"])
        #expect(journal.settle(journal.directory + "/install-1-2", in: tree) == nil)
        #expect(files.entries(of: journal.directory).isEmpty)
    }

    // MARK: Failure records

    @Test func failureRecordsRoundTripAndLeaveNothingWhenCleared() {
        let records = FailureRecords(dkmsTree: "/var/lib/dkms", fileSystem: files)
        let failure = AutoinstallFailure(module: "m", version: "1", kernel: "K", arch: "x86_64", status: 10, log: "/l", time: 42)
        let other = AutoinstallFailure(module: "n", version: "2", kernel: "K", arch: "x86_64", status: 1, log: nil, time: 7)
        files.makeDirectories("/var/lib/dkms")
        records.record(other)
        records.record(failure)
        #expect(records.all() == [failure, other])
        #expect(files.readText("/var/lib/dkms/.failed/m/1/K/x86_64") == "status=10\nlog=/l\ntime=42\n")
        records.clear("m", "1", "K", "x86_64")
        #expect(records.all() == [other])
        records.clear("n", "2")
        #expect(records.all().isEmpty)
        #expect(files.allPaths == ["/", "/var", "/var/lib", "/var/lib/dkms"])
    }
}
