import DKMSTestSupport
import Testing
@testable import DKMSCore

/// Exporting a local cache and fetching from the export: what is adopted
/// and what is refused (the fleet suite, tests/fleet, does the same with
/// real modules over http).
@Suite("Shared caches")
struct SharedCacheTests {
    let directory = TemporaryDirectory(prefix: "shared-cache")
    let target = BuildPlan.Target(module: "m", version: "1", kernel: "6.1.0-test", arch: "x86_64")
    let key = CacheKey(hex: String(repeating: "3", count: 64))!
    let signer = FleetSigningKey()
    let environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]

    /// A module object whose vermagic names `kernel`, made by cc.
    func module(kernel: String, at path: String) -> Bool {
        let source = directory.child("m.c")
        Files.write("__attribute__((section(\".modinfo\"), used, aligned(1))) static const char v[] = \"vermagic=\(kernel) SMP mod_unload \";\n", to: source)
        return CommandRunner.run("/usr/bin/cc", ["-c", source, "-o", path], environment: environment).status == 0
    }

    /// A local cache holding one entry of `target` built for `kernel`, exported to `shared`.
    func exported(kernel: String? = nil) throws -> (shared: String, export: CacheExporter) {
        let ko = directory.child("m.ko")
        try #require(module(kernel: kernel ?? target.kernel, at: ko))
        Files.write("log\n", to: directory.child("make.log"))
        let local = LocalCache(root: directory.child("exporter"))
        try #require(local.store(key: key, target: target, files: [("modules/m.ko", ko), ("make.log", directory.child("make.log"))]) != nil)
        let exporter = CacheExporter(directory: directory.child("shared"), signingKey: signer)
        let report = try #require(exporter.export(local.entries()))
        #expect(report.written == [key] && report.indexWritten)
        return (exporter.directory, exporter)
    }

    func fetch(_ shared: String, trusting keys: [FleetPublicKey]? = nil) async -> (SharedCacheFetcher.Outcome, LocalCache) {
        let cache = LocalCache(root: directory.child("client-\(Int.random(in: 0..<1_000_000))"))
        let fetcher = SharedCacheFetcher(trusted: TrustedKeys(keys ?? [signer.publicKey]), runner: ScriptedProcessRunner(), environment: [:])
        return (await fetcher.fetch(key, target: target, modules: ["m"], from: SharedCacheLocation(shared + "/"), into: cache), cache)
    }

    func refusal(_ outcome: SharedCacheFetcher.Outcome) -> String {
        if case .refused(let refusal) = outcome { return refusal.reason }
        return "not refused: \(outcome)"
    }

    @Test("an export is signed, indexed, and the same when done again; a client adopts it")
    func exportAndFetch() async throws {
        let (shared, exporter) = try exported()
        let entry = shared + "/entries/" + key.hex
        #expect(FileSystem.readText(shared + "/index") == "\(key.hex) m 1 6.1.0-test x86_64\n")
        #expect(FileSystem.mode(of: entry) == 0o755 && FileSystem.mode(of: entry + "/modules/m.ko") == 0o644)
        let again = try #require(exporter.export(LocalCache(root: directory.child("exporter")).entries()))
        #expect(again.written.isEmpty && again.unchanged == [key])
        let (outcome, cache) = await fetch(shared)
        guard case .adopted(let adopted) = outcome else { Issue.record("\(outcome)"); return }
        #expect(adopted.directory == cache.directory(of: key))
        #expect(LocalFileSystem().sameContent(adopted.path("modules/m.ko"), entry + "/modules/m.ko"))
        #expect(!FileSystem.exists(adopted.path(ManifestSignature.fileName)))
        if case .success = cache.lookup(key, modules: ["m"]) {} else { Issue.record("the adopted entry does not verify") }
        #expect(FileSystem.entries(of: cache.entriesDirectory) == [key.hex])
    }

    @Test("a location without the build is a silent miss, over http too")
    func absent() async throws {
        let (outcome, cache) = await fetch(directory.child("nothing"))
        guard case .absent = outcome else { Issue.record("\(outcome)"); return }
        #expect(FileSystem.entries(of: cache.entriesDirectory).isEmpty)
        let location = SharedCacheLocation("http://example.invalid/cache/")
        #expect(location.address(of: key, file: "manifest") == "http://example.invalid/cache/entries/\(key.hex)/manifest")
        for (status, code) in [(Int32(22), "404"), (63, "410")] {
            let runner = ScriptedProcessRunner { _ in ProcessOutcome(status: status, standardOutput: Array(code.utf8)) }
            let result = await location.fetch(key, file: "manifest", to: directory.child("x"), maxSize: 10, runner: runner, environment: [:])
            #expect(result == .absent)
        }
        let failing = ScriptedProcessRunner { _ in ProcessOutcome(status: 7, standardOutput: Array("000".utf8), standardError: Array("curl: (7) refused\n".utf8)) }
        let failed = await location.fetch(key, file: "manifest", to: directory.child("x"), maxSize: 10, runner: failing, environment: [:])
        #expect(failed == .failed("curl: (7) refused"))
    }

    @Test("untrusted, unsigned, tampered, truncated and edited entries are refused and leave nothing")
    func refusals() async throws {
        let (shared, _) = try exported()
        let entry = shared + "/entries/" + key.hex
        let (untrusted, cache) = await fetch(shared, trusting: [FleetSigningKey().publicKey])
        #expect(refusal(untrusted).contains("not trusted"))
        #expect(FileSystem.entries(of: cache.entriesDirectory).isEmpty)

        let signature = try #require(FileSystem.readBytes(entry + "/manifest.sig"))
        FileSystem.removeFile(entry + "/manifest.sig")
        #expect(refusal(await fetch(shared).0).contains("not signed"))
        FileSystem.writeBytes(signature, to: entry + "/manifest.sig")

        let module = try #require(FileSystem.readBytes(entry + "/modules/m.ko"))
        var tampered = module
        tampered[tampered.count / 2] ^= 0x20
        FileSystem.writeBytes(tampered, to: entry + "/modules/m.ko")
        #expect(refusal(await fetch(shared).0).contains("does not match its digest"))
        FileSystem.writeBytes(Array(module.dropLast(8)), to: entry + "/modules/m.ko")
        #expect(refusal(await fetch(shared).0).contains("truncated"))
        FileSystem.writeBytes(module, to: entry + "/modules/m.ko")

        let manifest = try #require(FileSystem.readText(entry + "/manifest"))
        FileSystem.writeText(manifest.replacingOccurrences(of: "created ", with: "created 1"), to: entry + "/manifest")
        #expect(refusal(await fetch(shared).0).contains("does not match the signature"))
        FileSystem.writeText(manifest, to: entry + "/manifest")
        guard case .adopted = await fetch(shared).0 else { Issue.record("the restored entry is not adopted"); return }
    }

    @Test("a signed entry whose modules are for another kernel is refused")
    func vermagic() async throws {
        let (shared, _) = try exported(kernel: "6.1.0-other")
        #expect(refusal(await fetch(shared).0) == "modules/m.ko is for kernel 6.1.0-other, not 6.1.0-test")
    }
}
