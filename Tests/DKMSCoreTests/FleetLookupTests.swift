import DKMSTestSupport
import Testing
@testable import DKMSCore

/// The kernel's identity without headers, lookup keys and records, and a
/// client's lookup by identity (tests/fleet/run-headerless.sh does it with
/// real kernels, modules and a web server).
@Suite("Fleet lookups by kernel identity")
struct FleetLookupTests {
    let banner = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)"
    let release = "6.1.0-57-amd64"
    let config = "# comment\nCONFIG_A=y\nCONFIG_B=\"x\"\n# CONFIG_C is not set\nCONFIG_BUILD_SALT=\"6.1.0-57-amd64\"\n"

    /// An x86 bzImage-like file: `HdrS` at 0x202, the version string at the pointer + 0x200.
    func image(_ version: String) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 0x1000)
        bytes.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        let pointer = 0x600
        bytes[0x20e] = UInt8(pointer & 0xff)
        bytes[0x20f] = UInt8(pointer >> 8)
        bytes.replaceSubrange(pointer + 0x200..<pointer + 0x200 + version.utf8.count, with: Array(version.utf8))
        return bytes
    }

    /// /boot of a machine with only the image package, and the headers of an exporter.
    func machine(imageBanner: String? = nil, bootConfig: String? = nil) -> InMemoryFileSystem {
        let files = InMemoryFileSystem()
        _ = files.makeDirectories("/boot")
        _ = files.writeBytes(image("\(release) (debian-kernel@lists.debian.org) \(imageBanner ?? banner)"), to: "/boot/vmlinuz-\(release)",
                             mode: 0o644, append: false)
        files.create(bootConfig ?? config.replacingOccurrences(of: "CONFIG_BUILD_SALT=\"6.1.0-57-amd64\"\n", with: ""),
                     at: "/boot/config-\(release)")
        let generated = "/h/include/generated"
        _ = files.makeDirectories(generated)
        files.create("#define UTS_RELEASE \"\(release)\"\n", at: generated + "/utsrelease.h")
        files.create("#define UTS_VERSION \"\(banner)\"\n", at: generated + "/utsversion.h")
        files.create("#define UTS_MACHINE\t\t\"x86_64\"\n#define LINUX_COMPILE_BY\t\"debian-kernel\"\n#define LINUX_COMPILE_HOST\t\"lists.debian.org\"\n",
                     at: generated + "/compile.h")
        files.create(config, at: "/h/.config")
        return files
    }

    func identities(_ files: InMemoryFileSystem) -> (boot: Result<KernelBuildIdentity, KernelIdentityProblem>,
                                                     headers: Result<KernelBuildIdentity, KernelIdentityProblem>) {
        (KernelBuildIdentity.installed(release: release, arch: "x86_64", fileSystem: files),
         KernelBuildIdentity.headers(release: release, arch: "x86_64", sourceDirectory: "/h", fileSystem: files))
    }

    @Test("the image package and the headers give the same identity; the build salt and signing options do not count")
    func sameIdentityBothWays() throws {
        let (boot, headers) = identities(machine())
        let fromBoot = try boot.get()
        #expect(fromBoot == (try headers.get()))
        #expect(fromBoot.banner == banner && fromBoot.builtBy == "debian-kernel@lists.debian.org")
    }

    @Test("another banner, another option or another release is another identity, or none")
    func differences() throws {
        let headers = try identities(machine()).headers.get()
        let otherBanner = try identities(machine(imageBanner: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-4 (2026-12-01)")).boot.get()
        #expect(otherBanner.digest != headers.digest)
        let otherConfig = try identities(machine(bootConfig: "CONFIG_A=m\nCONFIG_B=\"x\"\n")).boot.get()
        #expect(otherConfig.digest != headers.digest)
        let files = machine()
        _ = files.writeBytes(image("6.1.0-58-amd64 (x@y) \(banner)"), to: "/boot/vmlinuz-\(release)", mode: 0o644, append: false)
        guard case .failure(let problem) = KernelBuildIdentity.installed(release: release, arch: "x86_64", fileSystem: files) else {
            Issue.record("an image of another release gave an identity")
            return
        }
        #expect(problem.description.contains("says it is kernel 6.1.0-58-amd64"))
        files.removeFile("/boot/config-\(release)")
        _ = files.writeBytes(image("\(release) (x@y) \(banner)"), to: "/boot/vmlinuz-\(release)", mode: 0o644, append: false)
        guard case .failure = KernelBuildIdentity.installed(release: release, arch: "x86_64", fileSystem: files) else {
            Issue.record("an image without its config gave an identity")
            return
        }
    }

    @Test("an image without the x86 header: the Linux version banner, compiler group left out; none at all is refused")
    func uncompressedBanner() {
        let text = "Linux version \(release) (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) \(banner)\n"
        let bytes = [UInt8](repeating: 7, count: 100) + Array(text.utf8) + [0]
        #expect(KernelBuildIdentity.imageVersion(bytes) == "\(release) (debian-kernel@lists.debian.org) \(banner)")
        #expect(KernelBuildIdentity.imageVersion([UInt8](repeating: 0, count: 4096)) == nil)
    }

    @Test("the real /boot and headers of this machine agree, for every kernel that has both")
    func realKernels() throws {
        let kernels = FileSystem.entries(of: "/lib/modules").filter {
            FileSystem.exists("/lib/modules/\($0)/build/include/generated/utsrelease.h") && FileSystem.exists("/boot/vmlinuz-\($0)")
        }
        for kernel in kernels {
            let boot = try KernelBuildIdentity.installed(release: kernel, arch: "x86_64").get()
            let headers = try KernelBuildIdentity.headers(release: kernel, arch: "x86_64", sourceDirectory: "/lib/modules/\(kernel)/build").get()
            #expect(boot == headers, "\(kernel)")
        }
    }

    func material(environment: [String: String] = [:], kernelConfig: String = "/h/.config") -> CacheKeyMaterial {
        let plan = BuildPlan(
            target: .init(module: "m", version: "1", kernel: release, arch: "x86_64"), sourceDirectory: "/s", buildDirectory: "/b",
            patchOverlay: nil, patches: [], preBuild: nil, postBuild: nil, makeCommand: "make -j4 KERNELRELEASE=\(release) -C /h M=/b",
            shellVariables: [ShellVariable("kernelver", release), ShellVariable("kernel_config", kernelConfig)],
            environment: environment, modules: [.init(builtStem: "m", destName: "m", strip: true)], stripTool: "strip",
            sign: false, compression: nil)
        let kernel = KernelIdentity(release: release, arch: "x86_64", configDigest: "c", symversDigest: "s", compiler: "gcc-12: gcc-12 (Debian) 12.2.0")
        return CacheKeyMaterial(plan: plan, kernel: kernel, files: TreeDigest(), inherited: [:])
    }

    @Test("a lookup key: the compiler the kernel names and the headers' layout do not count, the admin's compiler and the identity do")
    func lookupKeys() throws {
        let identity = try identities(machine()).headers.get()
        let client = FleetLookupKey(material(kernelConfig: "/h/.config"), kernel: identity, compilerChoice: [:])
        let exporter = FleetLookupKey(material(environment: ["CC": "gcc-12", "KERNEL_CC": "gcc-12"], kernelConfig: "/h/include/config/auto.conf"),
                                      kernel: identity, compilerChoice: ["CC": "gcc-12", "KERNEL_CC": "gcc-12"])
        #expect(client == exporter)
        let admin = FleetLookupKey(material(environment: ["CC": "clang"]), kernel: identity, compilerChoice: ["CC": "gcc-12"])
        #expect(admin != client)
        var other = identity
        other.banner = "#2 SMP"
        #expect(FleetLookupKey(material(), kernel: other, compilerChoice: [:]) != client)
        #expect(client.key != CacheKey(material()), "a lookup key is never a cache key")
    }

    @Test("a record reads back; it answers only its own lookup, build and kernel; garbage is no record")
    func records() throws {
        let identity = try identities(machine()).headers.get()
        let lookup = FleetLookupKey(material(), kernel: identity, compilerChoice: [:])
        let target = BuildPlan.Target(module: "m", version: "1", kernel: release, arch: "x86_64")
        let record = FleetLookupRecord(lookup: lookup, target: target, kernel: identity, entry: CacheKey(material()))
        #expect(FleetLookupRecord(text: record.text) == record)
        #expect(record.answers(lookup, target: target, kernel: identity))
        var other = identity
        other.banner = "#2"
        #expect(!record.answers(lookup, target: target, kernel: other))
        #expect(!record.answers(lookup, target: .init(module: "m", version: "2", kernel: release, arch: "x86_64"), kernel: identity))
        for bad in ["", record.text + "x\n", record.text.replacingOccurrences(of: "entry ", with: "entry z"),
                    String(repeating: "a", count: 5000), record.text.replacingOccurrences(of: "target m 1", with: "target m  1")] {
            #expect(FleetLookupRecord(text: bad) == nil, "\(bad.prefix(80))")
        }
    }

    @Test("a client finds an exported build by identity; an untrusted, edited, mismatched or dangling record is refused, none is absent")
    func fetchByIdentity() async throws {
        let directory = TemporaryDirectory(prefix: "fleet-lookup")
        let identity = try identities(machine()).headers.get()
        let target = BuildPlan.Target(module: "m", version: "1", kernel: release, arch: "x86_64")
        let modules = [BuildPlan.CollectedModule(builtStem: "m", destName: "m", strip: true)]
        let source = directory.child("m.c")
        Files.write("__attribute__((section(\".modinfo\"), used, aligned(1))) static const char v[] = \"vermagic=\(release) SMP \";\n"
                    + "__attribute__((section(\".modinfo\"), used, aligned(1))) static const char n[] = \"name=m\";\n", to: source)
        try #require(CommandRunner.run("/usr/bin/cc", ["-c", source, "-o", directory.child("m.ko")],
                                       environment: ["PATH": "/usr/bin:/bin"]).status == 0)
        let key = CacheKey(material())
        let lookup = FleetLookupKey(material(), kernel: identity, compilerChoice: [:])
        let exporterCache = LocalCache(root: directory.child("exporter"))
        try #require(exporterCache.store(key: key, target: target, files: [("modules/m.ko", directory.child("m.ko"))]) != nil)
        #expect(exporterCache.record(FleetLookupRecord(lookup: lookup, target: target, kernel: identity, entry: key)))
        let signer = FleetSigningKey()
        let export = CacheExporter(directory: directory.child("shared"), signingKey: signer)
        let report = try #require(export.export(exporterCache.entries(), records: exporterCache.records()))
        #expect(report.lookups == 1)

        func fetch(trusting keys: [FleetPublicKey], lookup: FleetLookupKey = lookup, kernel: KernelBuildIdentity = identity)
            async -> (SharedCacheFetcher.Outcome, FleetLookupRecord?, LocalCache) {
            let cache = LocalCache(root: directory.child("client-\(Int.random(in: 0..<1_000_000))"))
            let fetcher = SharedCacheFetcher(trusted: TrustedKeys(keys), runner: ScriptedProcessRunner(), environment: [:])
            let (outcome, record) = await fetcher.fetch(lookup: lookup, kernel: kernel, target: target, modules: modules,
                                                        from: SharedCacheLocation(export.directory), into: cache)
            return (outcome, record, cache)
        }
        func refusal(_ outcome: SharedCacheFetcher.Outcome) -> String {
            if case .refused(let refusal) = outcome { return refusal.reason }
            return "not refused: \(outcome)"
        }
        let (adopted, record, cache) = await fetch(trusting: [signer.publicKey])
        guard case .adopted(let entry) = adopted else { Issue.record("\(adopted)"); return }
        #expect(entry.manifest.key == key && record?.entry == key)
        #expect(FileSystem.entries(of: cache.entriesDirectory) == [key.hex], "no staging left behind")

        #expect(refusal(await fetch(trusting: [FleetSigningKey().publicKey]).0).contains("which is not trusted"))
        var other = identity
        other.banner = "#9 SMP"
        if case .absent = await fetch(trusting: [signer.publicKey], lookup: FleetLookupKey(material(), kernel: other, compilerChoice: [:]),
                                      kernel: other).0 {} else { Issue.record("another kernel's lookup was not a miss") }
        // A record answered for another kernel, planted under this lookup with a valid signature.
        let path = export.identitiesDirectory + "/" + lookup.hex
        let planted = FleetLookupRecord(lookup: lookup, target: target, kernel: other, entry: key)
        Files.write(planted.text, to: path)
        Files.write(ManifestSignature(signing: Array(planted.text.utf8), with: signer).text, to: path + ".sig")
        #expect(refusal(await fetch(trusting: [signer.publicKey]).0).contains("names another build"))
        // Edited after signing.
        Files.write(planted.text.replacingOccurrences(of: "#9 SMP", with: banner), to: path)
        #expect(refusal(await fetch(trusting: [signer.publicKey]).0).contains("its lookup record \(lookup.short): its text does not match the signature"))
        // Signed, but its entry is gone.
        let good = FleetLookupRecord(lookup: lookup, target: target, kernel: identity, entry: key)
        Files.write(good.text, to: path)
        Files.write(ManifestSignature(signing: Array(good.text.utf8), with: signer).text, to: path + ".sig")
        FileSystem.removeTree(export.entriesDirectory + "/" + key.hex)
        let (dangling, _, client) = await fetch(trusting: [signer.publicKey])
        #expect(refusal(dangling).contains("which it does not have"))
        #expect(FileSystem.entries(of: client.entriesDirectory).isEmpty)
    }
}
