import Crypto
import DKMSTestSupport
import Testing
@testable import DKMSCore

/// Building, publishing, caching and fetching from a directory location
/// over an in-memory file system: no directory on disk, every file laid
/// out and inspected through ``InMemoryFileSystem``.
@Suite("Builds and caches in memory")
struct InMemoryBuildTests {
    let files = InMemoryFileSystem()
    let tree: DKMSTree
    let key = CacheKey(hex: String(repeating: "ab", count: 32))!

    init() {
        tree = DKMSTree(root: "/var/lib/dkms", sourceTree: "/usr/src", fileSystem: files)
    }

    /// A builder whose directory is the canonical build directory, with
    /// the source of `hello` (two modules: hello, world) in the fake tree.
    func builder(runner: ScriptedProcessRunner = ScriptedProcessRunner()) -> Builder {
        var plan = BuildPlanner.plan(BuildPlanTests.inputs())
        plan.sourceDirectory = "/usr/src/hello-1.0"
        files.create("obj-m := hello.o world.o\n", at: plan.sourceDirectory + "/Makefile")
        files.create("PACKAGE_NAME=hello\n", at: plan.sourceDirectory + "/dkms.conf")
        files.create(bytes: [0x23, 0x21, 0x0A], at: plan.sourceDirectory + "/configure", mode: 0o755)
        files.symlink(target: "Makefile", at: plan.sourceDirectory + "/Kbuild")
        // `dkms add` made the version's directory (the build directory's parent).
        files.makeDirectories(tree.versionDirectory("hello", "1.0"))
        return Builder(plan: plan, directory: plan.buildDirectory, sandbox: nil, runner: runner,
                       presenter: CommandPresenter(console: RecordingConsole(), verbose: false, progressDots: false,
                                                   fileSystem: files),
                       programName: "dkms", fileSystem: files)
    }

    func planned(_ builder: Builder, key: CacheKey? = nil) -> PlannedBuild {
        PlannedBuild(plan: builder.plan, config: BuildPlanTests.config(), sandboxAllowed: false, signer: nil,
                     writesDependencyMarkers: false, cache: CacheUse(key: key))
    }

    /// What make leaves: both modules, with bytes that are not UTF-8.
    func make(_ builder: Builder) {
        files.create(bytes: [0x7F, 0x45, 0x4C, 0x46, 0xFF, 0x00, 0xC3], at: builder.directory + "/hello.ko")
        files.create(bytes: [0x7F, 0x45, 0x4C, 0x46, 0x80], at: builder.directory + "/world.ko")
        files.create("0x1 sym vmlinux EXPORT_SYMBOL\n", at: builder.directory + "/Module.symvers")
    }

    // MARK: Builder

    @Test func withoutTheVersionDirectoryTheCopyFallsBackToCp() async {
        let runner = ScriptedProcessRunner()
        let builder = builder(runner: runner)
        files.removeTree(tree.versionDirectory("hello", "1.0"))
        await builder.prepareDirectory()
        #expect(runner.specs.map(\.executable) == ["cp"], "mkdir of the copy fails as it does on disk: cp gets its turn")
        #expect(!files.exists(builder.directory))
    }

    @Test func preparingTheDirectoryCopiesTheSourceWithModesAndLinksAndStartsTheLog() async {
        let builder = builder()
        files.create("stale\n", at: builder.directory + "/old.o")
        await builder.prepareDirectory()
        #expect(!files.exists(builder.directory + "/old.o"), "the directory starts afresh")
        #expect(files.readText(builder.directory + "/Makefile") == "obj-m := hello.o world.o\n")
        #expect(files.readBytes(builder.directory + "/configure") == [0x23, 0x21, 0x0A])
        #expect(files.mode(of: builder.directory + "/configure") == 0o755, "cp -a keeps the mode")
        #expect(files.readLink(builder.directory + "/Kbuild") == "Makefile", "a link is copied as a link")
        let log = files.readText(builder.log) ?? ""
        #expect(log.hasPrefix("DKMS (\(DKMSVersion.releaseString)) make.log for hello/1.0 for kernel 6.1.0-1-amd64 (x86_64)\n"))
    }

    // MARK: BuildPublisher

    @Test func publishingMovesTheModulesIntoTheTreeAndClearsTheBuildDirectory() async throws {
        let runner = ScriptedProcessRunner()
        let builder = builder(runner: runner)
        await builder.prepareDirectory()
        make(builder)
        let publisher = BuildPublisher(tree: tree, runner: runner, console: RecordingConsole())
        try await publisher.publish(planned(builder), builder: builder)

        let built = tree.builtDirectory("hello", "1.0", "6.1.0-1-amd64", "x86_64")
        #expect(files.readBytes(built + "/module/hello.ko") == [0x7F, 0x45, 0x4C, 0x46, 0xFF, 0x00, 0xC3])
        #expect(files.readBytes(built + "/module/world.ko") == [0x7F, 0x45, 0x4C, 0x46, 0x80])
        #expect(files.readText(built + "/module/Module.symvers") == "0x1 sym vmlinux EXPORT_SYMBOL\n")
        #expect(files.mode(of: built) == 0o755)
        #expect(files.readText(built + "/log/make.log")?.hasPrefix("DKMS (") == true, "the build's log is kept with it")
        let retained = tree.retainedLog("hello", "1.0", "6.1.0-1-amd64", "x86_64")
        #expect(files.readText(retained) == files.readText(built + "/log/make.log"))
        #expect(!files.exists(builder.plan.buildDirectory), "the build directory is removed")
        let kernelDirectory = tree.kernelDirectory("hello", "1.0", "6.1.0-1-amd64")
        #expect(files.entries(of: kernelDirectory) == ["x86_64"], "no temporary directory is left behind")
        #expect(tree.isBuilt("hello", "1.0", "6.1.0-1-amd64", "x86_64"))
        // Only hello is stripped (STRIP[1]=no), on the build's copy.
        #expect(runner.specs.map { $0.executable + " " + $0.arguments.joined(separator: " ") }
                == ["strip -g \(builder.directory)/hello.ko"])
    }

    @Test func aMissingModuleFailsThePublicationAndPublishesNothing() async {
        let builder = builder()
        await builder.prepareDirectory()
        make(builder)
        files.removeFile(builder.directory + "/world.ko")
        let console = RecordingConsole()
        do {
            try await BuildPublisher(tree: tree, runner: ScriptedProcessRunner(), console: console).publish(planned(builder), builder: builder)
            Issue.record("publishing without world.ko should fail")
        } catch {
            #expect(error.code == .moduleNotBuilt)
        }
        #expect(console.standardError.contains("world.ko has disappeared"))
        #expect(!files.exists(tree.builtDirectory("hello", "1.0", "6.1.0-1-amd64", "x86_64")))
    }

    @Test func aFreshBuildIsStoredInTheCacheAndReadBackIntact() async throws {
        let builder = builder()
        await builder.prepareDirectory()
        make(builder)
        files.clock = 1_800_000_000
        let cache = LocalCache(root: "/var/lib/dkms/.cache", fileSystem: files)
        var publisher = BuildPublisher(tree: tree, runner: ScriptedProcessRunner(), console: RecordingConsole())
        publisher.cache = (cache, 1 << 30)
        try await publisher.publish(planned(builder, key: key), builder: builder)

        let entry = try #require(try cache.lookup(key, modules: ["hello", "world"])?.get())
        #expect(entry.manifest.created == 1_800_000_000, "the manifest's time is the file system's clock")
        #expect(entry.manifest.files.map(\.name).sorted()
                == ["Module.symvers", "make.log", "modules/hello.ko", "modules/world.ko"])
        let hello = try #require(entry.manifest.file("modules/hello.ko"))
        #expect(hello.digest == HexDigest.hex(SHA256.hash(data: [0x7F, 0x45, 0x4C, 0x46, 0xFF, 0x00, 0xC3])))
        #expect(cache.counters()["stored"] == 1)

        // A file changed behind the cache's back makes the entry a miss, and it goes.
        files.writeBytes([0x00], to: entry.path("modules/world.ko"))
        #expect(throws: CacheRefusal.self) { try cache.lookup(key, modules: ["hello"])?.get() }
        #expect(!files.exists(entry.directory))
    }

    @Test func aCacheHitRestoresTheModulesWhereTheBuildWouldHaveLeftThem() async throws {
        let cache = LocalCache(root: "/var/lib/dkms/.cache", fileSystem: files)
        files.create(bytes: [1, 2, 3, 0xFF], at: "/tmp/hello.ko")
        files.create(bytes: [4, 5], at: "/tmp/world.ko")
        files.create("line 1\nline 2\nthe cached build\n", at: "/tmp/make.log")
        let entry = try #require(cache.store(key: key, target: BuildPlanTests.target, files: [
            ("modules/hello.ko", "/tmp/hello.ko"), ("modules/world.ko", "/tmp/world.ko"), ("make.log", "/tmp/make.log"),
        ], created: 0))
        let builder = builder()
        try await builder.restore(from: entry)
        #expect(files.readBytes(builder.directory + "/hello.ko") == [1, 2, 3, 0xFF])
        #expect(files.readBytes(builder.directory + "/world.ko") == [4, 5])
        let log = files.readText(builder.log) ?? ""
        #expect(log.contains("(modules from the module cache: entry \(key.hex), built "))
        #expect(log.hasSuffix("\nthe cached build\n"), "the cached log follows the new header")
        #expect(!log.contains("line 1"), "the cached build's own header is dropped")
    }

    // MARK: Digests

    @Test func chunkedDigestsInMemoryEqualTheDisksAndTheTreeDigestSeesModesAndLinks() throws {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        files.create(bytes: bytes, at: "/src/a.c")
        let directory = TemporaryDirectory()
        #expect(LocalFileSystem().writeBytes(bytes, to: directory.child("a.c")))
        let memory = TreeDigest(fileSystem: files)
        #expect(memory.fileDigest("/src/a.c") == TreeDigest().fileDigest(directory.child("a.c")),
                "a file read in 7-byte chunks digests as one read from disk")
        #expect(memory.fileDigest("/src/none") == nil)

        let before = memory.treeDigest("/src")
        files.setMode(0o755, of: "/src/a.c")
        let chmodded = memory.treeDigest("/src")
        #expect(chmodded != before, "a mode is part of the tree")
        files.symlink(target: "a.c", at: "/src/b.c")
        #expect(memory.treeDigest("/src") != chmodded, "a link is part of the tree")
        #expect(memory.treeDigest("/src") == TreeDigest(fileSystem: files).treeDigest("/src"))
    }

    // MARK: A directory location

    @Test func aDirectoryLocationFetchesWithinItsBoundsAndRefusesLinks() async {
        let location = SharedCacheLocation("/srv/share/")
        let runner = ScriptedProcessRunner()
        let manifest: [UInt8] = Array("manifest text\n".utf8) + [0xFF]
        files.create(bytes: manifest, at: location.address(of: key, file: "manifest"))
        files.makeDirectories("/staging")
        func fetch(_ file: String, _ maxSize: Int) async -> SharedCacheLocation.Fetch {
            await location.fetch(key, file: file, to: "/staging/" + file, maxSize: maxSize, runner: runner, environment: [:],
                                 fileSystem: files)
        }
        #expect(await fetch("manifest", 15) == .fetched)
        #expect(files.readBytes("/staging/manifest") == manifest)
        #expect(files.mode(of: "/staging/manifest") == 0o644)
        #expect(await fetch("manifest", 14) == .failed("manifest is larger than expected"))
        #expect(await fetch("manifest.sig", 100) == .absent)
        files.symlink(target: "manifest", at: location.address(of: key, file: "linked"))
        #expect(await fetch("linked", 100) == .failed("linked is not a regular file"))
        #expect(!files.exists("/staging/linked"))
        files.failsWrites = true
        #expect(await fetch("manifest", 100) == .failed("manifest cannot be stored"))
        #expect(runner.specs.isEmpty, "a directory location runs no curl")
    }

    // MARK: Configuration files

    @Test func frameworkFilesAreFoundInGlobOrder() {
        files.create("verbose=1\n", at: "/etc/dkms/framework.conf")
        for name in ["b.conf", "a.conf", ".hidden.conf", "notes.txt", "B.conf"] {
            files.create("", at: "/etc/dkms/framework.conf.d/" + name)
        }
        #expect(FrameworkFiles.files([:], fileSystem: files) == [
            "/etc/dkms/framework.conf", "/etc/dkms/framework.conf.d/B.conf",
            "/etc/dkms/framework.conf.d/a.conf", "/etc/dkms/framework.conf.d/b.conf",
        ])
        #expect(FrameworkFiles.files(["SWIFT_DKMS_SYSCONFDIR": "/nowhere"], fileSystem: files).isEmpty)
    }
}
