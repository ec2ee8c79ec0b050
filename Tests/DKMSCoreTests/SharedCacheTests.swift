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

    /// The module the build collects (`m.ko`, published as `m`).
    static let collected = [BuildPlan.CollectedModule(builtStem: "m", destName: "m", strip: true)]

    /// A module object whose vermagic names `kernel` and whose modinfo
    /// declares `name`, made by cc.
    func module(kernel: String, name: String = "m", at path: String) -> Bool {
        let source = directory.child("m.c")
        Files.write("__attribute__((section(\".modinfo\"), used, aligned(1))) static const char v[] = \"vermagic=\(kernel) SMP mod_unload \";\n"
                    + "__attribute__((section(\".modinfo\"), used, aligned(1))) static const char n[] = \"name=\(name)\";\n", to: source)
        return CommandRunner.run("/usr/bin/cc", ["-c", source, "-o", path], environment: environment).status == 0
    }

    /// A local cache holding one entry of `target` built for `kernel`, exported to `shared`.
    func exported(kernel: String? = nil, name: String = "m", extra: [(name: String, text: String)] = []) throws -> (shared: String, export: CacheExporter) {
        let ko = directory.child("m.ko")
        try #require(module(kernel: kernel ?? target.kernel, name: name, at: ko))
        Files.write("log\n", to: directory.child("make.log"))
        var files = [("modules/m.ko", ko), ("make.log", directory.child("make.log"))]
        for (index, file) in extra.enumerated() {
            Files.write(file.text, to: directory.child("extra\(index)"))
            files.append((file.name, directory.child("extra\(index)")))
        }
        let local = LocalCache(root: directory.child("exporter"))
        try #require(local.store(key: key, target: target, files: files) != nil)
        let exporter = CacheExporter(directory: directory.child("shared"), signingKey: signer)
        let report = try #require(exporter.export(local.entries()))
        #expect(report.written == [key] && report.indexWritten)
        return (exporter.directory, exporter)
    }

    func fetch(_ shared: String, trusting keys: [FleetPublicKey]? = nil,
               modules: [BuildPlan.CollectedModule] = collected) async -> (SharedCacheFetcher.Outcome, LocalCache) {
        let cache = LocalCache(root: directory.child("client-\(Int.random(in: 0..<1_000_000))"))
        let fetcher = SharedCacheFetcher(trusted: TrustedKeys(keys ?? [signer.publicKey]), runner: ScriptedProcessRunner(), environment: [:])
        return (await fetcher.fetch(key, target: target, modules: modules, from: SharedCacheLocation(shared + "/"), into: cache), cache)
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

    @Test("an adopted module must declare the name the build collects (- and _ alike)")
    func moduleName() async throws {
        let (shared, _) = try exported(name: "evil")
        #expect(refusal(await fetch(shared).0) == "modules/m.ko is module evil, not m")
        let (renamed, _) = try exported(name: "my_mod")
        let dest = [BuildPlan.CollectedModule(builtStem: "src/my-mod", destName: "m", strip: true)]
        guard case .adopted = await fetch(renamed, modules: dest).0 else { Issue.record("BUILT_MODULE_NAME my-mod is my_mod"); return }
        let (nameless, _) = try exported(name: "")
        #expect(refusal(await fetch(nameless).0) == "modules/m.ko declares no module name")
    }

    @Test("file names from a manifest are percent-encoded in URLs, and fetched as themselves from a directory")
    func oddNames() async throws {
        let odd = "extra/odd name ?#[1]{a,b} %41 ..x é"
        let location = SharedCacheLocation("https://cache.example/dkms/")
        let address = location.address(of: key, file: odd)
        #expect(address == "https://cache.example/dkms/entries/\(key.hex)/extra/odd%20name%20%3F%23%5B1%5D%7Ba%2Cb%7D%20%2541%20..x%20%C3%A9")
        #expect(!address.dropFirst(8).contains { "?#[]{} ".contains($0) })
        let (shared, _) = try exported(extra: [(odd, "extra\n")])
        guard case .adopted(let entry) = await fetch(shared).0 else { Issue.record("not adopted"); return }
        #expect(FileSystem.readText(entry.path(odd)) == "extra\n")
    }

    @Test("curl runs bounded: a file-size limit it cannot ignore, no globbing, short connect and low-speed time-outs, the time left")
    func boundedCurl() async throws {
        let location = SharedCacheLocation("http://127.0.0.1:9/cache")
        let destination = directory.child("dl/manifest")
        Files.makeDirectory(directory.child("dl"))
        let runner = ScriptedProcessRunner { spec in
            // A server that sent more than allowed: curl stopped at the file-size limit (EFBIG, exit 23).
            let limit = spec.arguments.first { $0.hasPrefix("--fsize=") }.flatMap { Int($0.dropFirst(8)) } ?? 0
            FileSystem.writeBytes([UInt8](repeating: 0, count: limit), to: destination)
            return ProcessOutcome(status: 23, standardOutput: Array("200".utf8), standardError: Array("curl: (23) Failure writing output\n".utf8))
        }
        let result = await location.fetch(key, file: "manifest", to: destination, maxSize: 1 << 20, seconds: 7, runner: runner, environment: [:])
        #expect(result == .failed("manifest is larger than expected"))
        let line = try #require(runner.commandLines.first)
        #expect(line.hasPrefix("prlimit --fsize=1048576 -- env --ignore-signal=XFSZ curl "))
        for option in ["--globoff", "--connect-timeout 5", "--speed-limit 1000 --speed-time 5", "--max-time 7 ", "--max-filesize 1048576"] {
            #expect(line.contains(option), "\(option)")
        }
        #expect(SharedCacheLocation.writeLimit(10) == 4096 && SharedCacheLocation.writeLimit(1 << 20) == 1 << 20)
        let slow = ScriptedProcessRunner { _ in ProcessOutcome(status: 28, standardOutput: Array("000".utf8), standardError: Array("curl: (28) Operation too slow\n".utf8)) }
        #expect(await location.fetch(key, file: "manifest", to: destination, maxSize: 10, runner: slow, environment: [:]) == .failed("curl: (28) Operation too slow"))
    }

    @Test("a failed download is the location's failure (not a refusal), and a fetch has only the time it is given")
    func failuresAndTime() async throws {
        let (shared, _) = try exported()
        let entry = shared + "/entries/" + key.hex
        let module = try #require(FileSystem.readBytes(entry + "/modules/m.ko"))
        FileSystem.writeBytes(module + [0], to: entry + "/modules/m.ko")
        guard case .unreadable(let reason) = await fetch(shared).0 else { Issue.record("a grown file is not a failure"); return }
        #expect(reason == "modules/m.ko is larger than expected")
        FileSystem.writeBytes(module, to: entry + "/modules/m.ko")
        let cache = LocalCache(root: directory.child("timed"))
        let fetcher = SharedCacheFetcher(trusted: TrustedKeys([signer.publicKey]), runner: ScriptedProcessRunner(), environment: [:])
        let outcome = await fetcher.fetch(key, target: target, modules: Self.collected, from: SharedCacheLocation(shared), into: cache, seconds: 0)
        guard case .unreadable(let late) = outcome else { Issue.record("\(outcome)"); return }
        #expect(late.contains("ran out"))
        #expect(FileSystem.entries(of: cache.entriesDirectory).isEmpty, "the staging directory is removed")
    }

    @Test("the ledger: a failed location stays failed, time adds up per location, seconds round up")
    func ledger() {
        var ledger = SharedCacheLedger(budget: 30)
        let a = SharedCacheLocation("http://a/"), b = SharedCacheLocation("http://b")
        #expect(ledger.secondsLeft(for: a) == 30 && ledger.failure(of: a) == nil)
        ledger.record(.milliseconds(10_500), for: a)
        ledger.record(.seconds(19), for: SharedCacheLocation("http://a"))
        #expect(ledger.secondsLeft(for: a) == 1 && ledger.secondsLeft(for: b) == 30)
        ledger.record(.seconds(1), for: a)
        #expect(ledger.secondsLeft(for: a) == 0)
        ledger.fail(b, because: "refused")
        ledger.fail(b, because: "later")
        #expect(ledger.failure(of: b) == "refused")
        #expect(SharedCacheLedger.wholeSeconds(.seconds(-3)) == 0 && SharedCacheLedger.wholeSeconds(.milliseconds(1)) == 1)
    }
}
