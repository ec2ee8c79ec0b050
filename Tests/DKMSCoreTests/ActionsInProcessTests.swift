import DKMSTestSupport
import Testing
@testable import DKMSCore

/// Every dkms action run in-process through `Engine.run()`, over an
/// ``InMemoryFileSystem`` and a ``ScriptedProcessRunner`` (see
/// ``InProcessDKMS``): each test checks the fake trees, the processes asked
/// for and what the console shows, and that nothing appeared on disk.
/// Each action type (``Action/command(in:)``) runs here through
/// ``CommandRunner``: its requirements, then its run. A read of the real
/// disk instead of the injected file system shows up as a failed
/// expectation (the fake trees are under a root absent from disk).
@Suite("Every action in-process")
struct ActionsInProcessTests {
    let dkms = InProcessDKMS()
    var K: String { InProcessDKMS.kernel }
    var tree: String { dkms.dkmsTree }

    /// The processes of a command, with ShellSourcer's bash program shown
    /// as `source FILE`.
    func spawned(_ outcome: InProcessDKMS.Outcome) -> [String] {
        outcome.commandLines.map { line in
            line.contains("__dkms_names=") ? "source " + (line.split(separator: " ").last.map(String.init) ?? "") : line
        }
    }

    /// Nothing of the fixture's root exists on disk (the tree lock found no
    /// tree to open `.lock` in).
    func expectNothingOnDisk(sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!LocalFileSystem().existsNoFollow(dkms.root), "the fake root was created on disk", sourceLocation: sourceLocation)
    }

    /// `dkms add -m hello -v 1.0`, which must succeed.
    func add(sourceLocation: SourceLocation = #_sourceLocation) async {
        let added = await dkms.run("add", "-m", "hello", "-v", "1.0")
        #expect(added.status == 0, "add failed: \(added.standardError)", sourceLocation: sourceLocation)
    }

    // MARK: add

    @Test func addLinksTheSourceIntoTheTree() async {
        let outcome = await dkms.run("add", "-m", "hello", "-v", "1.0")
        #expect(outcome.status == 0)
        #expect(outcome.error == nil)
        #expect(outcome.standardOutput == "Creating symlink \(tree)/hello/1.0/source -> \(dkms.sourceDirectory)\n")
        #expect(outcome.standardError.isEmpty)
        #expect(dkms.files.readLink(tree + "/hello/1.0/source") == dkms.sourceDirectory)
        #expect(dkms.files.isDirectory(tree + "/hello/1.0/source"))
        #expect(spawned(outcome).allSatisfy { $0 == "source \(dkms.sourceDirectory)/dkms.conf" }, "nothing runs but dkms.conf's evaluation")
        expectNothingOnDisk()
    }

    @Test func addingTwiceFailsWithStatus3AndChangesNothing() async {
        await add()
        let before = dkms.files.allPaths
        let outcome = await dkms.run("add", "-m", "hello", "-v", "1.0")
        #expect(outcome.error?.code == .alreadyThereOrMissingFromTree)
        #expect(outcome.status == 3)
        #expect(outcome.error?.code == .alreadyThereOrMissingFromTree)
        #expect(outcome.standardError.contains("Error! DKMS tree already contains: hello/1.0"))
        #expect(dkms.files.allPaths == before)
        expectNothingOnDisk()
    }

    @Test func addWithoutSourceFailsWithStatus2() async {
        let outcome = await dkms.run("add", "-m", "hello", "-v", "9.9")
        #expect(outcome.status == 2)
        #expect(outcome.error?.code == .notFoundOrConflictingKernels)
        #expect(outcome.standardError.contains("Could not find module source directory."))
        #expect(outcome.standardError.contains("Directory: \(dkms.sourceTree)/hello-9.9 does not exist."))
        #expect(!dkms.files.exists(tree + "/hello"))
        #expect(outcome.commandLines.isEmpty)
    }

    // MARK: build

    @Test func buildRunsMakeInTheBuildDirectoryAndPublishesTheModule() async {
        await add()
        let outcome = await dkms.run("build", "-m", "hello", "-v", "1.0", "-k", K)
        // kbuild is asked for the same way with or without the fix below.
        #expect(spawned(outcome).contains(
            "make -j1 KERNELRELEASE=\(K) -C \(dkms.headers) M=\(tree)/hello/1.0/build"))
        #expect(outcome.standardOutput.contains("Building module(s)... done.\n"))
        #expect(outcome.status == 0)
        #expect(dkms.files.readBytes(dkms.builtDirectory + "/module/hello.ko") == InProcessDKMS.moduleBytes)
        #expect(!spawned(outcome).contains { $0.hasPrefix("cp ") }, "the source is copied through the file system, not by cp")
        #expect(!dkms.files.exists(tree + "/hello/1.0/build"), "the build directory is removed after a build")
        #expect(spawned(outcome).filter { !$0.hasPrefix("source ") } == [
            "make -j1 KERNELRELEASE=\(K) -C \(dkms.headers) M=\(tree)/hello/1.0/build",
            "strip -g \(tree)/hello/1.0/build/hello.ko",
        ], "make, then strip; no cp, no bwrap, no signing")
        expectNothingOnDisk()
    }

    @Test func buildOfAVersionNotAddedAndWithoutSourceFailsWithStatus2() async {
        let outcome = await dkms.run("build", "-m", "hello", "-v", "2.0", "-k", K)
        #expect(outcome.status == 2)
        #expect(outcome.standardError.contains("Directory: \(dkms.sourceTree)/hello-2.0 does not exist."))
        #expect(!spawned(outcome).contains { $0.hasPrefix("make") })
    }

    // MARK: install

    @Test func installCopiesTheModuleRunsDepmodAndCommitsItsJournal() async {
        await add()
        dkms.seedBuilt()
        let outcome = await dkms.run("install", "-m", "hello", "-v", "1.0", "-k", K)
        #expect(outcome.status == 0)
        #expect(dkms.files.readBytes(dkms.installedModule) == InProcessDKMS.moduleBytes)
        #expect(dkms.files.readLink("\(tree)/hello/kernel-\(K)-x86_64") == "1.0/\(K)/x86_64")
        #expect(spawned(outcome).filter { !$0.hasPrefix("source ") } == ["depmod -a \(K)"])
        #expect(outcome.standardOutput == "Installing \(dkms.installedModule)\nRunning depmod... done.\n")
        #expect(Journal(dkmsTree: tree, fileSystem: dkms.files).pending().isEmpty, "no journal entry is left pending")
        expectNothingOnDisk()
    }

    @Test func installOfAVersionNeitherAddedNorInTheSourceTreeFailsWithStatus2() async {
        let outcome = await dkms.run("install", "-m", "nope", "-v", "2", "-k", K)
        #expect(outcome.status == 2)
        #expect(outcome.standardError.contains("Error! Could not find module source directory."))
        #expect(outcome.standardError.contains("Directory: \(dkms.sourceTree)/nope-2 does not exist."))
        #expect(outcome.commandLines.isEmpty)
        #expect(!dkms.files.exists(tree + "/nope"))
    }

    @Test func installForAKernelWithoutModulesDirectoryFailsWithStatus6() async {
        await add()
        dkms.files.create(bytes: InProcessDKMS.moduleBytes, at: "\(tree)/hello/1.0/6.9.9-gone/x86_64/module/hello.ko")
        let outcome = await dkms.run("install", "-m", "hello", "-v", "1.0", "-k", "6.9.9-gone")
        #expect(outcome.result == .exit(6), "the kernel's failure is the install's status")
        #expect(outcome.status == 6)
        #expect(outcome.standardError.contains("The directory \(dkms.installTree)/6.9.9-gone doesn't exist."))
        #expect(!dkms.files.exists("\(tree)/hello/kernel-6.9.9-gone-x86_64"))
    }

    // MARK: status

    @Test func statusOfAnAddedModule() async {
        await add()
        let outcome = await dkms.run("status")
        #expect(outcome.status == 0)
        #expect(outcome.standardOutput == "hello/1.0: added\n")
        #expect(outcome.commandLines.isEmpty, "an added version's dkms.conf is not read")
        let json = await dkms.run("status", "--json")
        guard case .statusEntries(let entries, let failures, _) = json.result else {
            Issue.record("status --json returned \(String(describing: json.result))")
            return
        }
        #expect(entries.map(\.state) == ["added"])
        #expect(entries.map(\.module) == ["hello"])
        #expect(failures.isEmpty)
    }

    @Test func statusOfAnInstalledModule() async {
        await add()
        dkms.seedInstalled()
        let outcome = await dkms.run("status")
        #expect(outcome.status == 0)
        #expect(outcome.standardOutput.hasPrefix("hello/1.0, \(K), x86_64: installed"))
        #expect(outcome.standardOutput == "hello/1.0, \(K), x86_64: installed\n")
        #expect(spawned(outcome).allSatisfy { $0 == "source \(tree)/hello/1.0/source/dkms.conf" || $0.hasPrefix("modinfo ") })
    }

    @Test func statusOfAnEmptyTreeShowsNothing() async {
        let outcome = await dkms.run("status")
        #expect(outcome.status == 0)
        #expect(outcome.standardOutput.isEmpty)
        #expect(outcome.standardError.isEmpty)
    }

    // MARK: uninstall, unbuild, remove

    @Test func uninstallOfABuiltVersionThatIsNotInstalledSkipsIt() async {
        await add()
        dkms.seedBuilt()
        let outcome = await dkms.run("uninstall", "-m", "hello", "-v", "1.0", "-k", K)
        #expect(outcome.status == 0)
        #expect(outcome.standardOutput == "Module hello/1.0 is not installed for kernel \(K) (x86_64). Skipping...\n")
        #expect(dkms.files.isDirectory(dkms.builtDirectory + "/module"), "the build stays")
        #expect(!spawned(outcome).contains { $0.hasPrefix("depmod") })
    }

    @Test func uninstallOfAnInstalledVersionRemovesTheModuleAndTheActiveLink() async {
        await add()
        dkms.seedInstalled()
        let outcome = await dkms.run("uninstall", "-m", "hello", "-v", "1.0", "-k", K)
        #expect(outcome.standardOutput.contains("Before uninstall, this module version was ACTIVE on this kernel."))
        #expect(outcome.status == 0)
        #expect(!dkms.files.exists(dkms.installedModule))
        #expect(!dkms.files.existsNoFollow("\(tree)/hello/kernel-\(K)-x86_64"))
        #expect(spawned(outcome).last == "depmod -a \(K)")
        #expect(outcome.standardOutput.contains("Deleting \(dkms.installedModule)\nRunning depmod... done.\n"))
        #expect(Journal(dkmsTree: tree, fileSystem: dkms.files).pending().isEmpty)
        expectNothingOnDisk()
    }

    @Test func unbuildRemovesTheBuildAndKeepsTheSource() async {
        await add()
        dkms.seedBuilt()
        let outcome = await dkms.run("unbuild", "-m", "hello", "-v", "1.0", "-k", K)
        #expect(outcome.status == 0)
        #expect(!dkms.files.exists(tree + "/hello/1.0/\(K)"))
        #expect(dkms.files.readLink(tree + "/hello/1.0/source") == dkms.sourceDirectory)
        #expect(dkms.files.exists(dkms.sourceDirectory + "/dkms.conf"))
        let status = await dkms.run("status")
        #expect(status.standardOutput == "hello/1.0: added\n")
    }

    @Test func removeDeletesTheVersionFromTheTreeButNotItsSource() async {
        await add()
        dkms.seedBuilt()
        let outcome = await dkms.run("remove", "-m", "hello", "-v", "1.0", "--all")
        #expect(outcome.status == 0)
        #expect(outcome.standardOutput.contains("Deleting module hello/1.0 completely from the DKMS tree.\n"))
        #expect(!dkms.files.exists(tree + "/hello"))
        #expect(dkms.files.exists(dkms.sourceDirectory + "/dkms.conf"), "remove keeps /usr/src")
        expectNothingOnDisk()
    }

    @Test func removeOfAVersionNotInTheTreeFailsWithStatus3() async {
        await add()
        let outcome = await dkms.run("remove", "-m", "hello", "-v", "2.0", "--all")
        #expect(outcome.error?.code == .alreadyThereOrMissingFromTree)
        #expect(outcome.status == 3)
        #expect(outcome.error?.code == .alreadyThereOrMissingFromTree)
        #expect(outcome.standardError.contains("The module/version combo: hello/2.0 is not located in the DKMS tree."))
        #expect(dkms.files.isDirectory(tree + "/hello/1.0"))
    }

    @Test func removeWithoutAModuleFailsWithStatus1() async {
        let outcome = await dkms.run("remove")
        #expect(outcome.status == 1)
        #expect(outcome.error?.code == .notPermittedOrMissingArguments)
        #expect(outcome.error?.code == .notPermittedOrMissingArguments)
        #expect(outcome.standardError.contains("Error! Arguments <module> and <module-version> are not specified."))
        #expect(outcome.standardError.contains("Usage: remove <module>/<module-version> or"))
    }

    // MARK: autoinstall and the kernel hooks

    @Test func autoinstallLeavesAnInstalledModuleAlone() async {
        await add()
        dkms.seedInstalled()
        let before = dkms.files.allPaths
        let outcome = await dkms.run("autoinstall", "-k", K)
        #expect(outcome.status == 0)
        #expect(outcome.standardOutput.isEmpty)
        #expect(outcome.commandLines.isEmpty, "nothing to build or install: nothing runs")
        #expect(dkms.files.allPaths == before)
    }

    @Test
    func autoinstallBuildsAndInstallsAnAddedModule() async {
        await add()
        let outcome = await dkms.run("autoinstall", "-k", K)
        #expect(spawned(outcome).contains("make -j1 KERNELRELEASE=\(K) -C \(dkms.headers) M=\(tree)/hello/1.0/build"))
        #expect(outcome.status == 0)
        #expect(outcome.standardOutput.contains("Autoinstall of module hello/1.0 for kernel \(K) (x86_64)\n"))
        #expect(dkms.files.readBytes(dkms.installedModule) == InProcessDKMS.moduleBytes)
        expectNothingOnDisk()
    }

    @Test func kernelPostinstWithEverythingInstalledDoesNothing() async {
        await add()
        dkms.seedInstalled()
        let before = dkms.files.allPaths
        let outcome = await dkms.run("kernel_postinst", "-k", K)
        #expect(outcome.status == 0)
        #expect(outcome.commandLines.isEmpty)
        #expect(dkms.files.allPaths == before)
    }

    @Test func kernelHooksNeedExactlyOneKernel() async {
        for hook in ["kernel_preinst", "kernel_postinst", "kernel_prerm"] {
            let outcome = await dkms.run(hook, "-k", K, "-k", "6.2.0")
            #expect(outcome.error?.code == .missingConfOrOneKernelOnly, "\(hook)")
            #expect(outcome.status == 4)
            #expect(outcome.error?.code == .missingConfOrOneKernelOnly)
            #expect(outcome.standardError.contains("The action \(hook) requires exactly one kernel version parameter on the command line."))
        }
    }

    @Test func kernelPrermUninstallsTheModulesOfTheKernel() async {
        await add()
        dkms.seedInstalled()
        let outcome = await dkms.run("kernel_prerm", "-k", K)
        #expect(outcome.standardError.contains("dkms: removing module hello/1.0 for kernel \(K) (x86_64)"))
        #expect(outcome.status == 0)
        #expect(!dkms.files.exists(dkms.installedModule))
    }

    @Test func kernelPreinstUninstallsTheModulesOfTheKernel() async {
        await add()
        dkms.seedInstalled()
        let outcome = await dkms.run("kernel_preinst", "-k", K)
        #expect(outcome.standardError.contains("dkms: removing module hello/1.0 for kernel \(K) (x86_64)"))
        #expect(outcome.status == 0)
        #expect(!dkms.files.exists(dkms.installedModule))
    }

    // MARK: match

    @Test func matchNeedsATemplateKernel() async {
        let outcome = await dkms.run("match", "-k", K)
        #expect(outcome.error?.code == .notPermittedOrMissingArguments)
        #expect(outcome.status == 1)
        #expect(outcome.error?.code == .notPermittedOrMissingArguments)
        #expect(outcome.standardError.contains("Usage: match --templatekernel=<kernel-version> -k <kernel-version>"))
    }

    @Test func matchOfATemplateWithNothingInstalledChangesNothing() async {
        await add()
        let before = dkms.files.allPaths
        let outcome = await dkms.run("match", "--templatekernel", "6.0.0-template", "-k", K)
        #expect(outcome.status == 0)
        #expect(!spawned(outcome).contains { $0.hasPrefix("make") || $0.hasPrefix("depmod") })
        #expect(dkms.files.allPaths == before)
    }

    // MARK: mktarball, ldtarball

    @Test func mktarballStagesTheBuildAndTheSourceAndRunsTar() async {
        await add()
        dkms.seedBuilt()
        let outcome = await dkms.run("mktarball", "-m", "hello", "-v", "1.0", "-k", K)
        #expect(outcome.status == 0)
        let tarball = "\(tree)/hello/1.0/tarball//hello-1.0-kernel\(K)-x86_64.dkms.tar.gz"
        #expect(outcome.standardOutput.hasSuffix("Tarball location: \(tarball)\n"))
        // dkms.conf is evaluated by bash only while the engine reads it off the real disk.
        let commands = spawned(outcome).filter { !$0.hasPrefix("source ") }
        #expect(commands.count == 3)
        guard commands.count == 3 else { return }
        #expect(commands[0].hasPrefix("cp --reflink=auto -rf \(dkms.builtDirectory) \(dkms.root)/tmp/dkms."))
        #expect(commands[0].hasSuffix("/dkms_main_tree/\(K)"))
        #expect(commands[1].hasPrefix("cp --reflink=auto -fprT \(tree)/hello/1.0/source/ \(dkms.root)/tmp/dkms."))
        #expect(commands[2].hasPrefix("tar -C \(dkms.root)/tmp/dkms."))
        #expect(commands[2].hasSuffix(" -caf \(tarball) ."))
        #expect(dkms.files.entries(of: dkms.root + "/tmp").isEmpty, "the staging directory is removed")
        #expect(dkms.files.isDirectory("\(tree)/hello/1.0/tarball"))
    }

    @Test func mktarballOfAVersionNotAddedFailsWithStatus3() async {
        let outcome = await dkms.run("mktarball", "-m", "hello", "-v", "1.0", "-k", K)
        #expect(outcome.status == 3)
        #expect(outcome.error?.code == .alreadyThereOrMissingFromTree)
        #expect(outcome.standardError.contains("The module/version combo: hello/1.0 is not located in the DKMS tree."))
        #expect(!spawned(outcome).contains { $0.hasPrefix("tar") })
    }

    @Test func ldtarballOfAMissingArchiveFailsWithStatus2() async {
        let outcome = await dkms.run("ldtarball", dkms.root + "/hello.dkms.tar.gz")
        #expect(outcome.error?.code == .notFoundOrConflictingKernels)
        #expect(outcome.status == 2)
        #expect(outcome.error?.code == .notFoundOrConflictingKernels)
        #expect(outcome.standardError.contains("\(dkms.root)/hello.dkms.tar.gz does not exist."))
        #expect(outcome.commandLines.isEmpty)
    }

    @Test func ldtarballLoadsTheSourceAndTheBuildThatTarUnpacks() async {
        let archive = dkms.root + "/hello.dkms.tar.gz"
        dkms.files.create("not really gzip", at: archive)
        dkms.files.removeTree(dkms.sourceDirectory)
        let files = dkms.files
        dkms.answer("tar") { spec in
            guard spec.arguments.first == "-xaf", let at = spec.arguments.firstIndex(of: "-C") else { return ProcessOutcome(status: 0) }
            let staging = spec.arguments[at + 1]
            files.create(InProcessDKMS.dkmsConf, at: staging + "/dkms_source_tree/dkms.conf")
            files.create("obj-m := hello.o\n", at: staging + "/dkms_source_tree/Makefile")
            files.create(bytes: InProcessDKMS.moduleBytes, at: "\(staging)/dkms_main_tree/\(InProcessDKMS.kernel)/x86_64/module/hello.ko")
            return ProcessOutcome(status: 0)
        }
        let outcome = await dkms.run("ldtarball", archive)
        #expect(outcome.status == 0)
        #expect(outcome.standardOutput.contains("Loading tarball for hello/1.0"))
        #expect(dkms.files.readText(dkms.sourceDirectory + "/dkms.conf") == InProcessDKMS.dkmsConf)
        #expect(dkms.files.readLink(tree + "/hello/1.0/source") == dkms.sourceDirectory)
        #expect(dkms.files.readBytes(dkms.builtDirectory + "/module/hello.ko") == InProcessDKMS.moduleBytes, "the build is loaded")
        #expect(outcome.standardOutput.contains("Loading \(dkms.builtDirectory)...\n"))
        #expect(spawned(outcome).contains { $0.hasPrefix("tar -tvaf \(dkms.root)/tmp/dkms-archive.") })
        #expect(spawned(outcome).contains { $0.hasPrefix("tar -xaf \(dkms.root)/tmp/dkms-archive.") && $0.hasSuffix("--no-same-owner") })
        #expect(spawned(outcome).contains { $0.hasPrefix("cp --reflink=auto -rf ") && $0.hasSuffix(" \(dkms.builtDirectory)/") },
                "the build is copied into the tree by cp")
        #expect(dkms.files.entries(of: dkms.root + "/tmp").isEmpty, "the private copy and the staging directory are removed")
        expectNothingOnDisk()
    }

    @Test func ldtarballRefusesAnArchiveWithAMemberOutsideItAndUnpacksNothing() async {
        let archive = dkms.root + "/evil.dkms.tar.gz"
        dkms.files.create("x", at: archive)
        dkms.answer("tar") { spec in
            guard spec.arguments.first == "-tvaf" else { return ProcessOutcome(status: 0) }
            return ProcessOutcome(status: 0, standardOutput: Array("-rw-r--r-- 0/0 5 2024-01-01 00:00 \"../../etc/evil\"\n".utf8))
        }
        let outcome = await dkms.run("ldtarball", archive)
        #expect(outcome.error?.code == .moduleNotBuilt)
        #expect(outcome.status == 7)
        #expect(outcome.error?.code == .moduleNotBuilt)
        #expect(outcome.standardError.contains("Refusing to load \(archive)"))
        #expect(!spawned(outcome).contains { $0.hasPrefix("tar -xaf") }, "a refused archive is not unpacked")
        #expect(dkms.files.entries(of: dkms.root + "/tmp").isEmpty)
    }

    // MARK: fsck

    @Test func fsckOfAConsistentTreeFindsNothing() async {
        await add()
        dkms.seedInstalled()
        let before = dkms.files.allPaths
        let outcome = await dkms.run("fsck")
        #expect(outcome.status == 0)
        #expect(outcome.standardOutput == "No problems found in \(tree).\n")
        #expect(dkms.files.allPaths == before)
    }

    @Test func fsckRemovesAVersionWithoutSource() async {
        await add()
        dkms.files.create(bytes: InProcessDKMS.moduleBytes, at: "\(tree)/hello/2.0/\(K)/x86_64/module/hello.ko")
        let outcome = await dkms.run("fsck")
        #expect(outcome.status == 0)
        #expect(outcome.standardOutput.contains("hello/2.0"))
        #expect(!dkms.files.exists(tree + "/hello/2.0"))
        #expect(dkms.files.isDirectory(tree + "/hello/1.0/source"), "the sound version stays")
    }

    // MARK: cache

    @Test func cacheListAndStatsOfAnUnusedCache() async {
        let list = await dkms.run("cache", "list")
        #expect(list.status == 0)
        #expect(list.standardOutput.isEmpty)
        let stats = await dkms.run("cache", "stats")
        #expect(stats.status == 0)
        #expect(stats.standardOutput == """
            cache: \(tree)/.cache (build_cache=no: not used)
            entries: 0
            size: 0 B of 4.0 GiB
            hits: 0
            misses: 0
            stored: 0
            evicted: 0
            fetched: 0
            refused: 0

            """)
        #expect(list.commandLines.isEmpty && stats.commandLines.isEmpty)
        #expect(!dkms.files.exists(tree + "/.cache"), "reading the cache creates none")
    }

    @Test func cacheWithAnUnknownWordFails() async {
        let outcome = await dkms.run("cache", "frobnicate")
        #expect(outcome.error?.code == .notPermittedOrMissingArguments)
        #expect(outcome.status == 1)
        #expect(outcome.error?.code == .notPermittedOrMissingArguments)
        #expect(outcome.standardError.contains("Error! Usage: dkms cache list | stats | locations | prune [SIZE] | export DIRECTORY | keygen NAME"))
        #expect(outcome.commandLines.isEmpty)
    }

    // MARK: mkbmdeb

    @Test func mkbmdebOfAVersionNotAddedFailsWithStatus3() async {
        let outcome = await dkms.run("mkbmdeb", "-m", "hello", "-v", "1.0", "-k", K)
        #expect(outcome.status == 3)
        #expect(outcome.error?.code == .alreadyThereOrMissingFromTree)
        #expect(outcome.standardError.contains("The module/version combo: hello/1.0 is not located in the DKMS tree."))
        #expect(!spawned(outcome).contains { $0.hasPrefix("dpkg-deb") })
    }

    @Test func mkbmdebPacksTheBuiltModuleWithDpkgDeb() async {
        await add()
        dkms.seedBuilt()
        let outcome = await dkms.run("mkbmdeb", "-m", "hello", "-v", "1.0", "-k", K)
        #expect(outcome.status == 0)
        let deb = "\(tree)/hello/1.0/deb/hello-modules-\(K)_1.0_amd64.deb"
        #expect(spawned(outcome).contains { $0.hasPrefix("dpkg-deb --root-owner-group --build \(dkms.root)/tmp/dkms-bmdeb.") && $0.hasSuffix(" \(deb)") })
        #expect(outcome.standardOutput.contains("Binary package location: \(deb)\n"))
        expectNothingOnDisk()
    }

    // MARK: generate_mok

    @Test func generateMokRunsOpensslForAMissingKey() async {
        let files = dkms.files
        dkms.answer("openssl") { spec in
            if let key = spec.arguments.firstIndex(of: "-keyout") { files.create("KEY", at: spec.arguments[key + 1]) }
            if let out = spec.arguments.firstIndex(of: "-out") { files.create("CERT", at: spec.arguments[out + 1]) }
            return ProcessOutcome(status: 0)
        }
        let outcome = await dkms.run("generate_mok")
        #expect(outcome.status == 0)
        #expect(outcome.standardOutput.contains("Certificate or key are missing, generating self signed certificate for MOK...\n"))
        #expect(spawned(outcome) == [
            "openssl req -new -x509 -nodes -days 36500 -subj /CN=DKMS module signing key -newkey rsa:2048 -keyout /var/lib/dkms/mok.key -addext extendedKeyUsage=codeSigning -outform DER -out /var/lib/dkms/mok.pub",
        ])
        #expect(dkms.files.readText("/var/lib/dkms/mok.key") == "KEY")
        #expect(dkms.files.readText("/var/lib/dkms/mok.pub") == "CERT")
    }

    @Test func generateMokFailsWithStatus1WhenOpensslMakesNoKey() async {
        dkms.answer("openssl") { _ in ProcessOutcome(status: 1) }
        let outcome = await dkms.run("generate_mok")
        #expect(outcome.result == .exit(1))
        #expect(outcome.standardOutput.contains("Key file /var/lib/dkms/mok.key not found and can't be generated, modules won't be signed"))
        #expect(!dkms.files.exists("/var/lib/dkms/mok.key"))
    }

    @Test func generateMokKeepsAnExistingKeyAndRunsNothing() async {
        dkms.files.create("KEY", at: "/var/lib/dkms/mok.key")
        dkms.files.create("CERT", at: "/var/lib/dkms/mok.pub")
        let outcome = await dkms.run("generate_mok")
        #expect(outcome.status == 0)
        #expect(!outcome.standardOutput.contains("generating self signed certificate"))
        #expect(!spawned(outcome).contains { $0.hasPrefix("openssl") })
        #expect(dkms.files.readText("/var/lib/dkms/mok.key") == "KEY")
    }

    // MARK: command line

    @Test func noActionIsReportedAsUnknown() async {
        let outcome = await dkms.run("-m", "hello")
        #expect(outcome.result == .unknownAction)
        #expect(outcome.commandLines.isEmpty)
    }

    @Test func bothBinariesOnlyAndSourceOnlyFailWithStatus8() async {
        let outcome = await dkms.run("mktarball", "-m", "hello", "-v", "1.0", "--binaries-only", "--source-only")
        #expect(outcome.error?.code == .badConfOrNoSource)
        #expect(outcome.status == 8)
        #expect(outcome.error?.code == .badConfOrNoSource)
        #expect(outcome.standardError.contains("You have specified both --binaries-only and --source-only."))
    }
}
