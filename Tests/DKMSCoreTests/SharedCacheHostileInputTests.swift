import DKMSTestSupport
import Testing
@testable import DKMSCore

/// Extreme numbers in everything the cache reads from a file (manifests,
/// signatures, counters, `used` stamps, export directories): parsing
/// refuses them, and every view of the entries stays a clean result. A
/// runtime trap here would end the test process, which fails the suite.
@Suite("Shared cache hostile input")
struct SharedCacheHostileInputTests {
    let directory = TemporaryDirectory(prefix: "cache-hostile")
    let key = CacheKey(hex: String(repeating: "4", count: 64))!
    let target = BuildPlan.Target(module: "m", version: "1", kernel: "6.1.0-test", arch: "x86_64")

    /// Numbers no parser may take: too large, negative, signed, spaced,
    /// exponent, non-ASCII digits (Arabic-Indic, fullwidth), empty.
    static let hostileNumbers = [
        "9223372036854775807", "9223372036854775808", "99999999999999999999999999", "-1", "-9223372036854775808",
        "+1", " 1", "1 ", "1e9", "0x10", "١٧٩٦٠٦١٩٤٦", "１７９６", "",
    ]

    func manifestText(created: String = "1796061946", size: String = "3") -> String {
        "swift-dkms cache entry 1\nkey \(key.hex)\ntarget m 1 6.1.0-test x86_64\ncreated \(created)\n"
            + "file \(String(repeating: "e", count: 64)) \(size) make.log\n"
    }

    @Test func numbersAreASCIIDigitsWithinTheirRange() {
        for text in Self.hostileNumbers { #expect(CacheNumber.parse(text, in: 0...(Int.max - 1)) == nil, "\(text)") }
        #expect(CacheNumber.parse("0", in: 0...1) == 0)
        #expect(CacheNumber.parse("007", in: 0...10) == 7)
        #expect(CacheNumber.parse("11", in: 0...10) == nil)
        #expect(CacheNumber.parse("999999999999999999", in: 0...Int.max) == 999_999_999_999_999_999)
        #expect(CacheNumber.parse("9223372036854775807", in: 0...Int.max) == .max)
        #expect(CacheNumber.sum(.max, 1) == .max && CacheNumber.sum(.min, -1) == .min && CacheNumber.sum(2, 3) == 5)
        #expect(CacheNumber.product(.max, 2) == .max && CacheNumber.product(.max, -2) == .min && CacheNumber.product(-3, 3) == -9)
        #expect(CacheNumber.percent(.max, .max) == 50 && CacheNumber.percent(1, 2) == 33 && CacheNumber.percent(29, 71) == 29)
        #expect(CacheNumber.percent(.max, 0) == 100 && CacheNumber.percent(0, 0) == nil && CacheNumber.percent(.max / 3, .max / 3 * 2) == 33)
    }

    @Test func manifestsRefuseOutOfRangeCreatedTimesAndSizes() {
        #expect(CacheManifest(text: manifestText()) != nil)
        #expect(CacheManifest(text: manifestText(created: "0"))?.created == 0)
        #expect(CacheManifest(text: manifestText(created: "4294967295"))?.created == 4_294_967_295)
        #expect(CacheManifest(text: manifestText(size: "4294967296"))?.size == 1 << 32)
        for number in Self.hostileNumbers + ["4294967296", "01796061946"] {
            #expect(CacheManifest(text: manifestText(created: number)) == nil, "created \(number)")
        }
        // ("1 " there is size 1 of a file named " make.log", which a manifest may list.)
        for number in Self.hostileNumbers.filter({ $0 != "1 " }) + ["4294967297", "03"] {
            #expect(CacheManifest(text: manifestText(size: number)) == nil, "size \(number)")
        }
        // Many files at the largest size: the total saturates instead of trapping.
        let big = CacheManifest(key: key, target: target, created: 0, files: (0..<5).map {
            .init(name: "f\($0)", size: .max / 2, digest: String(repeating: "e", count: 64))
        })
        #expect(big.size == .max && [CachedBuild(manifest: big, lastUsed: 0, usedStamp: 0, directory: "/")].totalSize == .max)
        let tooMany = manifestText() + (0...CacheManifest.maxFiles).map { "file \(String(repeating: "e", count: 64)) 1 f\($0)\n" }.joined()
        #expect(CacheManifest(text: tooMany) == nil)
    }

    @Test func signaturesWithHostileFieldsAreNotSignatures() {
        for text in [
            "swift-dkms cache signature 1\nkey 5d2c8e01a7f3b4c९\ned25519 \(String(repeating: "A", count: 86))==\n",
            "swift-dkms cache signature 1\nkey 5d2c8e01a7f3b4c9\ned25519 \(String(repeating: "=", count: 100_000))\n",
            "swift-dkms cache signature 1\nkey 5d2c8e01a7f3b4c9\ned25519 \(String(repeating: "/", count: 1_000_001))\n",
            "swift-dkms cache signature 1\nkey -9223372036854775808\ned25519 ==\n",
        ] {
            #expect(ManifestSignature(text: text) == nil)
        }
    }

    /// A local cache with an in-range entry whose `used` stamp is far in
    /// the future, out-of-range manifests, and counters at their maximum.
    func plantedCache() -> LocalCache {
        let cache = LocalCache(root: directory.child("local"))
        Files.write("log", to: directory.child("make.log"))
        #expect(cache.store(key: key, target: target, files: [("make.log", directory.child("make.log"))], created: 4_294_967_295) != nil)
        _ = CommandRunner.run("/usr/bin/touch", ["-d", "@99999999999", cache.directory(of: key) + "/used"], environment: [:])
        for (index, created) in ["9223372036854775807", "-1", "١٢"].enumerated() {
            let other = cache.entriesDirectory + "/" + String(repeating: "\(index + 5)", count: 64)
            Files.write(manifestText(created: created).replacingOccurrences(of: key.hex, with: String(repeating: "\(index + 5)", count: 64)),
                        to: other + "/manifest")
        }
        Files.write("hits 9223372036854775807\nmisses 9223372036854775807\nstored -5\nrefused ٣\nfetched 99999999999999999999\n", to: cache.statsFile)
        return cache
    }

    @Test func everyViewOfAPlantedLocalCacheIsACleanResult() throws {
        let cache = plantedCache()
        let entries = cache.entries()
        #expect(entries.map(\.manifest.key) == [key], "out-of-range manifests are not entries")
        let used = cache.directory(of: key) + "/used"
        #expect(entries.first?.usedStamp == FileSystem.modificationStamp(of: used))
        #expect(entries.first?.lastUsed == FileSystem.modificationStamp(of: used).map { $0 / 1_000_000_000 })
        let text = CacheReportText(cache: cache, enabled: true, limit: .max, shared: [])
        #expect(text.list().count == 1)
        let stats = text.stats()
        #expect(stats.contains("hit rate: 50%") && stats.contains("stored: 0") && stats.contains("refused: 0") && stats.contains("fetched: 0"))
        #expect(text.report().counters["hits"] == .max)
        cache.count(["hits": 1, "misses": .max])
        #expect(cache.counters()["hits"] == .max && cache.counters()["misses"] == .max)
        #expect(cache.evict(toAtMost: .max).isEmpty)
        #expect(cache.evict(toAtMost: 0).map(\.manifest.key) == [key])
    }

    @Test func aStampBeyondWhatFitsIsClampedNotATrap() throws {
        let path = directory.child("far")
        Files.write("", to: path)
        // Year 5138 (ext4 keeps 2446, tmpfs all of it): past 2262, where nanoseconds overflow an Int.
        _ = CommandRunner.run("/usr/bin/touch", ["-d", "@99999999999", path], environment: [:])
        let seconds = try #require(FileSystem.modificationTime(of: path))
        try #require(seconds > Int.max / 1_000_000_000, "this file system keeps no time after 2262")
        #expect(FileSystem.modificationStamp(of: path) == .max)
    }

    @Test func anExportDirectoryWithAnOutOfRangeUnsignedManifestIsIndexedWithoutIt() throws {
        let shared = directory.child("shared")
        Files.write(manifestText(created: "9223372036854775807"), to: shared + "/entries/\(key.hex)/manifest")
        let exporter = CacheExporter(directory: shared, signingKey: FleetSigningKey())
        #expect(exporter.indexLines().isEmpty)
        let report = try #require(exporter.export(plantedCache().entries()))
        #expect(report.written.count == 1 && report.indexWritten)
        #expect(FileSystem.readText(shared + "/index") == "\(key.hex) m 1 6.1.0-test x86_64\n")
    }

    @Test func aBoundedReadStopsAtItsLimitEvenOnAnEndlessFile() {
        let path = directory.child("ten")
        Files.write("0123456789", to: path)
        #expect(FileSystem.readBytes(path, atMost: 10) == Array("0123456789".utf8))
        #expect(FileSystem.readBytes(path, atMost: 9) == nil)
        #expect(FileSystem.readBytes(path, atMost: .max)?.count == 10)
        #expect(FileSystem.readBytes("/dev/zero", atMost: 1 << 20) == nil, "an endless source is cut off")
        #expect(FileSystem.readBytes(directory.child("none"), atMost: 10) == nil)
    }
}
