import DKMSTestSupport
import Testing
@testable import DKMSCore

/// Installing a module in-process: ``InstallPlanner`` and
/// ``ModuleInstaller`` over an in-memory file system, depmod through a
/// scripted runner. No build plan, no kernel headers: only module files.
@Suite("Install plans and the module installer, in memory")
struct ModuleInstallerTests {
    let files = InMemoryFileSystem()
    let kernel = "6.1.0-1-amd64"
    let console = BufferedConsole()
    var journal: Journal { Journal(dkmsTree: "/var/lib/dkms", fileSystem: files) }
    var tree: DKMSTree { DKMSTree(root: "/var/lib/dkms", sourceTree: "/usr/src", fileSystem: files) }
    var kernelDirectory: String { "/lib/modules/\(kernel)" }
    var built: String { tree.builtDirectory("hello", "1.0", kernel, "x86_64") + "/module" }

    init() {
        files.create("kernel/drivers/misc/hello.ko:\n", at: "/lib/modules/\(kernel)/modules.dep")
        files.create("the kernel's own", at: "/lib/modules/\(kernel)/kernel/drivers/misc/hello.ko")
        files.create("dkms hello", at: tree.builtDirectory("hello", "1.0", kernel, "x86_64") + "/module/hello.ko")
        files.create("dkms world", at: tree.builtDirectory("hello", "1.0", kernel, "x86_64") + "/module/world.ko")
    }

    func plan(modules: [String] = ["hello", "world"], sane: @escaping (String) -> Bool = { _ in true }) async -> InstallPlan {
        await InstallPlanner(fileSystem: files, compressedSuffix: "").plan(
            module: "hello", version: "1.0", kernel: kernel, arch: "x86_64",
            modules: modules.map { InstallPlanner.Module(name: $0, location: "/updates/dkms") },
            moduleDirectory: built, kernelDirectory: kernelDirectory,
            originals: tree.originalModulesDirectory("hello", kernel, "x86_64"),
            activeLink: tree.activeLink("hello", kernel, "x86_64"), symlinks: false, requiresAModule: true
        ) { name, _, console in
            guard sane(name) else {
                console.errorLine("\(name) refused")
                return false
            }
            return true
        }
    }

    @Test func installsArchivesLinksAndRunsDepmod() async throws {
        let plan = await plan()
        #expect(plan.copies.map(\.destination) == ["\(kernelDirectory)/updates/dkms/hello.ko", "\(kernelDirectory)/updates/dkms/world.ko"])
        #expect(plan.copies.first?.archive?.original == "\(kernelDirectory)/kernel/drivers/misc/hello.ko")
        #expect(files.readText("\(kernelDirectory)/kernel/drivers/misc/hello.ko") != nil, "planning changes nothing")

        let installer = ModuleInstaller(fileSystem: files, journal: journal, console: console)
        let entry = try installer.apply(plan)
        #expect(journal.pending().count == 1, "the entry stays open until the transaction ends")
        let runner = ScriptedProcessRunner()
        await Depmod(installTree: "/lib/modules", runner: runner, environment: [:], fileSystem: files)
            .run(kernel: kernel, output: CommandOutput(output: .discard, error: .discard), console: console)
        installer.commit(entry)

        #expect(files.readText("\(kernelDirectory)/updates/dkms/hello.ko") == "dkms hello")
        #expect(files.readText("\(kernelDirectory)/updates/dkms/world.ko") == "dkms world")
        #expect(files.readText("\(kernelDirectory)/kernel/drivers/misc/hello.ko") == nil)
        let archived = tree.originalModulesDirectory("hello", kernel, "x86_64") + "/hello.ko"
        #expect(files.readText(archived) == "the kernel's own")
        #expect(files.readText(archived + ".origin") == "\(kernelDirectory)/kernel/drivers/misc/hello.ko\n")
        #expect(files.readLink(tree.activeLink("hello", kernel, "x86_64")) == "1.0/\(kernel)/x86_64")
        #expect(runner.commandLines == ["depmod -a \(kernel)"])
        #expect(journal.pending().isEmpty, "the journal is committed")
        #expect(console.transcript.items == [
            .text(.standardOutput, "Found pre-existing \(kernelDirectory)/kernel/drivers/misc/hello.ko, archiving for uninstallation\n"),
            .text(.standardOutput, "Installing \(kernelDirectory)/updates/dkms/hello.ko\n"),
            .text(.standardOutput, "Installing \(kernelDirectory)/updates/dkms/world.ko\n"),
        ])
    }

    @Test func aRefusedModuleIsSkippedAndItsMessageComesInItsTurn() async throws {
        let plan = await plan(sane: { $0 != "hello" })
        #expect(plan.copies.map(\.name) == ["world"])
        _ = try ModuleInstaller(fileSystem: files, journal: journal, console: console).apply(plan)
        #expect(console.transcript.items == [
            .text(.standardError, "hello refused\n"),
            .text(.standardOutput, "Installing \(kernelDirectory)/updates/dkms/world.ko\n"),
        ])
        #expect(files.readText("\(kernelDirectory)/kernel/drivers/misc/hello.ko") == "the kernel's own", "a refused module archives nothing")
    }

    @Test func nothingInstalledAbortsAndLeavesNoTrace() async throws {
        let plan = await plan(sane: { _ in false })
        let before = files.allPaths
        let error = #expect(throws: DKMSError.self) { try ModuleInstaller(fileSystem: files, journal: journal, console: console).apply(plan) }
        #expect(error?.code == .patchOrInstallFailed)
        #expect(error?.lines == ["Installation aborted."])
        #expect(files.allPaths == before, "the trees are as they were (the journal directory is gone again)")
    }

    @Test func aFailedCopyRollsBackTheArchivedOriginal() async throws {
        var plan = await plan()
        plan.steps[1].copy?.source = "/nowhere/world.ko"
        let error = #expect(throws: DKMSError.self) { try ModuleInstaller(fileSystem: files, journal: journal, console: console).apply(plan) }
        #expect(error?.code == .patchOrInstallFailed)
        #expect(error?.lines.first == "Copying '/nowhere/world.ko' failed")
        #expect(files.readText("\(kernelDirectory)/kernel/drivers/misc/hello.ko") == "the kernel's own", "the original is back")
        #expect(files.readText("\(kernelDirectory)/updates/dkms/hello.ko") == nil)
        #expect(!files.isSymlink(tree.activeLink("hello", kernel, "x86_64")))
        #expect(journal.pending().isEmpty)
    }

    @Test func anUnwritableJournalChangesNothing() async throws {
        let plan = await plan()
        files.failsWrites = true
        let before = files.allPaths
        let error = #expect(throws: DKMSError.self) { try ModuleInstaller(fileSystem: files, journal: journal, console: console).apply(plan) }
        #expect(error?.code == .patchOrInstallFailed)
        files.failsWrites = false
        #expect(files.allPaths == before)
    }

    @Test func aSecondModuleOfTheSameNameSeesTheFirstOnesCopy() async throws {
        let plan = await plan(modules: ["hello", "hello"])
        #expect(plan.copies.count == 2)
        #expect(plan.copies[0].archive != nil)
        #expect(plan.copies[1].archive?.original == "\(kernelDirectory)/updates/dkms/hello.ko",
                "the planned copy of the first is what the second finds, as upstream's loop would")
    }

    @Test func uninstallDeletesRestoresUnlinksAndCommits() async throws {
        let installer = ModuleInstaller(fileSystem: files, journal: journal, console: console)
        installer.commit(try installer.apply(await plan()))
        let originals = tree.originalModulesDirectory("hello", kernel, "x86_64")
        let own = "\(kernelDirectory)/kernel/drivers/misc/hello.ko"
        let restores = ArchivedOriginals(fileSystem: files).of("hello", in: originals)
        #expect(restores == [ArchivedOriginals.Original(archived: originals + "/hello.ko", origin: own)])
        let plan = UninstallPlan(
            module: "hello", version: "1.0", kernel: kernel, arch: "x86_64", kernelDirectory: kernelDirectory,
            originals: originals, activeLink: tree.activeLink("hello", kernel, "x86_64"), compressedSuffix: "",
            steps: [
                .init(name: "hello", location: "/updates/dkms", files: ["\(kernelDirectory)/updates/dkms/hello.ko"],
                      originals: restores, declaredLocation: "/updates/dkms"),
                .init(name: "world", location: "/updates/dkms", files: ["\(kernelDirectory)/updates/dkms/world.ko"],
                      originals: [], declaredLocation: "/updates/dkms"),
            ])
        #expect(plan.journalSteps == [
            ["delete", "\(kernelDirectory)/updates/dkms/hello.ko"], ["restore", originals + "/hello.ko", own],
            ["delete", "\(kernelDirectory)/updates/dkms/world.ko"], ["unlink", tree.activeLink("hello", kernel, "x86_64")],
        ])
        let uninstaller = ModuleUninstaller(fileSystem: files, journal: journal, console: console)
        let entry = try uninstaller.apply(plan)
        #expect(journal.steps(of: entry.path).dropFirst().map { $0 } == plan.journalSteps, "the whole plan is journaled")
        uninstaller.commit(entry)
        #expect(files.readText(own) == "the kernel's own", "the original is back")
        #expect(!files.exists("\(kernelDirectory)/updates/dkms/hello.ko") && !files.exists("\(kernelDirectory)/updates/dkms/world.ko"))
        #expect(!files.exists("\(kernelDirectory)/updates"), "empty destinations are removed")
        #expect(!files.existsNoFollow(tree.activeLink("hello", kernel, "x86_64")))
        #expect(!files.exists(originals + "/hello.ko.origin"))
        #expect(journal.pending().isEmpty)
    }

    @Test func anOriginalThatCannotGoBackKeepsTheJournalForTheNextCommand() async throws {
        let installer = ModuleInstaller(fileSystem: files, journal: journal, console: console)
        installer.commit(try installer.apply(await plan()))
        let originals = tree.originalModulesDirectory("hello", kernel, "x86_64")
        // Where the original belongs is now a directory: the move fails.
        files.makeDirectories("\(kernelDirectory)/kernel/drivers/misc/hello.ko/blocker")
        let plan = UninstallPlan(
            module: "hello", version: "1.0", kernel: kernel, arch: "x86_64", kernelDirectory: kernelDirectory,
            originals: originals, activeLink: tree.activeLink("hello", kernel, "x86_64"), compressedSuffix: "",
            steps: [.init(name: "hello", location: "/updates/dkms", files: ["\(kernelDirectory)/updates/dkms/hello.ko"],
                          originals: ArchivedOriginals(fileSystem: files).of("hello", in: originals), declaredLocation: "/updates/dkms")])
        let error = #expect(throws: DKMSError.self) { try ModuleUninstaller(fileSystem: files, journal: journal, console: console).apply(plan) }
        #expect(error?.code == .patchOrInstallFailed)
        #expect(journal.pending().count == 1, "the next command completes it")
        #expect(files.readText(originals + "/hello.ko") == "the kernel's own", "the archived copy is kept")
    }

    /// The restore its `.origin` asks for is refused with a warning; the
    /// file is then put back where the module is declared, as upstream's
    /// restore of an original without a known place does.
    @Test func anOriginalThatBelongsOutsideTheKernelIsNotPutThere() throws {
        let originals = tree.originalModulesDirectory("hello", kernel, "x86_64")
        files.create("elsewhere", at: originals + "/hello.ko")
        files.create("/etc/hello.ko\n", at: originals + "/hello.ko.origin")
        let listed = ArchivedOriginals(fileSystem: files).of("hello", in: originals)
        let plan = UninstallPlan(
            module: "hello", version: "1.0", kernel: kernel, arch: "x86_64", kernelDirectory: kernelDirectory,
            originals: originals, activeLink: tree.activeLink("hello", kernel, "x86_64"), compressedSuffix: "",
            steps: [.init(name: "hello", location: nil, files: [], originals: listed, declaredLocation: "/updates/dkms")])
        #expect(listed.count == 1 && plan.restores(of: plan.steps[0]).isEmpty)
        #expect(plan.journalSteps == [["unlink", tree.activeLink("hello", kernel, "x86_64")]], "nothing outside the kernel is restored")
        let uninstaller = ModuleUninstaller(fileSystem: files, journal: journal, console: console)
        uninstaller.commit(try uninstaller.apply(plan))
        #expect(!files.exists("/etc/hello.ko"))
        #expect(files.readText("\(kernelDirectory)/updates/dkms/hello.ko") == "elsewhere")
        #expect(console.transcript.items.contains(.diagnostic(Diagnostic(kind: .warning, lines: ["Bad original location '/etc/hello.ko' in \(originals)/hello.ko.origin"]))))
    }
}
