import DKMSTestSupport
import Foundation
import Testing
@testable import DKMSCore

/// Cache keys, manifests and the local cache, constructed directly.
@Suite("Module cache units")
struct ModuleCacheUnitTests {
    let directory = TemporaryDirectory()
    var source: String { directory.child("source") }
    static let kernel = KernelIdentity(release: "6.1.0-1-amd64", arch: "x86_64", configDigest: String(repeating: "a", count: 64),
                                       symversDigest: String(repeating: "b", count: 64), compiler: "gcc-12: gcc-12 (Debian 12.2.0-14) 12.2.0")

    init() {
        Files.write("obj-m := hello.o\n", to: source + "/Makefile")
        Files.write("int x;\n", to: source + "/hello.c")
        Files.write("PACKAGE_NAME=hello\n", to: source + "/dkms.conf")
    }

    func plan(environment: [String: String] = ["PATH": "/usr/bin:/bin", "CC": "gcc-12"], jobs: String = "4",
              suffix: String = "", sign: Bool = true) -> BuildPlan {
        var inputs = BuildPlanTests.inputs(environment: environment, suffix: suffix)
        inputs.sourceDirectory = source
        inputs.parallelJobs = jobs
        inputs.sign = sign
        return BuildPlanner.plan(inputs)
    }

    func key(_ plan: BuildPlan, kernel: KernelIdentity = Self.kernel, inherited: [String: String] = ["PATH": "/usr/bin:/bin"]) -> CacheKey {
        CacheKey(CacheKeyMaterial(plan: plan, kernel: kernel, files: TreeDigest(), inherited: inherited))
    }

    @Test func whatDecidesTheModulesChangesTheKeyAndNothingElseDoes() {
        let base = key(plan())
        #expect(base == key(plan()))
        // Not in the key: the job count, signing, compression, the session.
        #expect(base == key(plan(jobs: "64")))
        #expect(base == key(plan(sign: false)))
        #expect(base == key(plan(suffix: ".xz")))
        #expect(base == key(plan(environment: ["PATH": "/usr/bin:/bin", "CC": "gcc-12", "TERM": "xterm", "SSH_TTY": "/dev/pts/1"]),
                            inherited: ["PATH": "/usr/bin:/bin", "TERM": "xterm", "SSH_TTY": "/dev/pts/1"]))
        // In the key: the compiler, kbuild variables, the kernel's .config and symbols, the source.
        #expect(base != key(plan(environment: ["PATH": "/usr/bin:/bin", "CC": "clang"])))
        #expect(base != key(plan(environment: ["PATH": "/usr/bin:/bin", "CC": "gcc-12", "KCFLAGS": "-O3"]),
                            inherited: ["PATH": "/usr/bin:/bin", "KCFLAGS": "-O3"]))
        var kernel = Self.kernel
        kernel.configDigest = String(repeating: "c", count: 64)
        #expect(base != key(plan(), kernel: kernel))
        kernel = Self.kernel
        kernel.symversDigest = "-"
        #expect(base != key(plan(), kernel: kernel))
        // A new upload of the same release: the same .config and symbols, another banner.
        kernel = Self.kernel
        kernel.banner = "debian-kernel@lists.debian.org #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)"
        let upload = key(plan(), kernel: kernel)
        #expect(base != upload)
        kernel.banner = "debian-kernel@lists.debian.org #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-4 (2026-12-03)"
        #expect(upload != key(plan(), kernel: kernel))
        Files.write("int y;\n", to: source + "/hello.c")
        let changed = key(plan())
        #expect(base != changed)
        FileSystem.setMode(0o755, of: source + "/hello.c")
        #expect(changed != key(plan()), "a mode change counts")
    }

    @Test func theJobCountIsTakenOutOfTheMakeCommandOnly() {
        #expect(CacheKeyMaterial.withoutJobCount("make -j12 KERNELRELEASE=K -C x", kernel: "K") == "make -j KERNELRELEASE=K -C x")
        #expect(CacheKeyMaterial.withoutJobCount("make -j KERNELRELEASE=K", kernel: "K") == "make -j KERNELRELEASE=K")
        #expect(CacheKeyMaterial.withoutJobCount("make -j4 all", kernel: "K") == "make -j4 all")
        #expect(CacheKeyMaterial.withoutJobCount("./build.sh -j4", kernel: "K") == "./build.sh -j4")
    }

    @Test func manifestsRoundTripAndRefuseWhatTheyDidNotWrite() throws {
        let key = try #require(CacheKey(hex: String(repeating: "0", count: 63) + "1"))
        let manifest = CacheManifest(key: key, target: BuildPlanTests.target, created: 1_700_000_000, files: [
            .init(name: "modules/hello.ko", size: 10, digest: String(repeating: "f", count: 64)),
            .init(name: "make.log", size: 3, digest: String(repeating: "e", count: 64)),
        ])
        #expect(CacheManifest(text: manifest.text) == manifest)
        #expect(manifest.size == 13)
        for bad in [
            manifest.text.replacingOccurrences(of: "entry 1", with: "entry 2"),
            manifest.text.replacingOccurrences(of: "modules/hello.ko", with: "../hello.ko"),
            manifest.text.replacingOccurrences(of: "modules/hello.ko", with: "/etc/passwd"),
            manifest.text.replacingOccurrences(of: " 10 ", with: " -1 "),
            String(manifest.text.dropLast()),
            manifest.text + manifest.text.split(separator: "\n").last! + "\n",
        ] {
            #expect(CacheManifest(text: bad) == nil, "\(bad)")
        }
        #expect(CacheKey(hex: "ABC") == nil)
    }

    @Test func theLocalCacheStoresVerifiesRepairsAndEvictsTheLeastRecentlyUsed() throws {
        let cache = LocalCache(root: directory.child("cache"))
        var keys: [CacheKey] = []
        for index in 0..<3 {
            let key = try #require(CacheKey(hex: String(repeating: "\(index)", count: 64)))
            Files.write(String(repeating: "x", count: 1000), to: directory.child("built\(index).ko"))
            let stored = cache.store(key: key, target: BuildPlanTests.target,
                                     files: [(CacheManifest.moduleFile("hello"), directory.child("built\(index).ko"))],
                                     created: 1_700_000_000 + index)
            #expect(stored != nil)
            keys.append(key)
            // Distinct use times, oldest first.
            var times = [timespec(tv_sec: 1_700_000_000 + index, tv_nsec: 0), timespec(tv_sec: 1_700_000_000 + index, tv_nsec: 0)]
            utimensat(AT_FDCWD, cache.directory(of: key) + "/used", &times, 0)
        }
        guard case .success? = cache.lookup(keys[0], modules: ["hello"]) else { Issue.record("stored entry not found"); return }
        #expect(cache.lookup(keys[0], modules: ["hello", "world"]).map { (try? $0.get()) == nil } == true, "a missing module is refused")
        #expect(!FileSystem.exists(cache.directory(of: keys[0])), "a refused entry is removed")

        // Damage: a truncated file is refused and removed.
        Files.write("short", to: cache.directory(of: keys[1]) + "/modules/hello.ko")
        if case .failure(let refusal)? = cache.lookup(keys[1], modules: ["hello"]) {
            #expect(refusal.reason.contains("truncated"))
        } else {
            Issue.record("a truncated entry was used")
        }
        #expect(cache.lookup(keys[1], modules: ["hello"]) == nil)

        // LRU: with room for one entry, the most recently used stays.
        for index in 3..<5 {
            let key = try #require(CacheKey(hex: String(repeating: "\(index)", count: 64)))
            Files.write(String(repeating: "y", count: 1000), to: directory.child("b\(index).ko"))
            cache.store(key: key, target: BuildPlanTests.target, files: [(CacheManifest.moduleFile("hello"), directory.child("b\(index).ko"))])
            keys.append(key)
            var times = [timespec(tv_sec: 1_700_000_100 + index, tv_nsec: 0), timespec(tv_sec: 1_700_000_100 + index, tv_nsec: 0)]
            utimensat(AT_FDCWD, cache.directory(of: key) + "/used", &times, 0)
        }
        cache.markUsed(keys[2])
        let removed = cache.evict(toAtMost: 1500)
        #expect(removed.count == 2)
        #expect(cache.entries().map(\.manifest.key) == [keys[2]])
        cache.count(["hits": 2, "misses": 1])
        cache.count(["hits": 1])
        #expect(cache.counters() == ["hits": 3, "misses": 1])
    }
}
