import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// The module cache on real headers: a rebuild of an unchanged source is
/// a hit that publishes the same module a build makes (signed with the
/// local key), a one-byte change anywhere in the key is a miss, and a
/// damaged entry is a miss that the rebuild repairs.
@Suite("Module cache", .serialized, .enabled(if: InstalledHeaders.first != nil, "no kernel headers installed"))
struct ModuleCacheTests {
    let sandbox = DKMSSandbox(signing: true)
    let kernel = InstalledHeaders.first ?? ""
    let arch = Settings.uname().machine
    var source: String { sandbox.packages + "/hello-dkms-1.0" }
    var built: String { "\(sandbox.dkmsTree)/hello-dkms/1.0/\(kernel)/\(arch)/module/hello_dkms.ko" }
    var makeLog: String { "\(sandbox.dkmsTree)/hello-dkms/1.0/\(kernel)/\(arch)/log/make.log" }
    var entries: String { sandbox.dkmsTree + "/.cache/entries" }

    init() {
        Files.makeDirectory(sandbox.root.child("mok"))
        sandbox.environment["try_sign_modules"] = "true"
        sandbox.environment["mok_signing_key"] = sandbox.root.child("mok/mok.key")
        sandbox.environment["mok_certificate"] = sandbox.root.child("mok/mok.pub")
        Files.makeDirectory("\(sandbox.installTree)/\(kernel)")
        _ = FileSystem.symlink(target: "/lib/modules/\(kernel)/build", at: "\(sandbox.installTree)/\(kernel)/build")
        _ = CommandRunner.run("/bin/cp", ["-a", DKMSBinary.packageRoot + "/examples/hello-dkms", source], environment: sandbox.environment)
    }

    /// The counters of `dkms cache stats`.
    func counters() -> [String: Int] {
        var counters: [String: Int] = [:]
        for line in sandbox.dkms(["cache", "stats"]).stdout.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, let value = Int(parts[1]) { counters[parts[0]] = value }
        }
        return counters
    }

    /// The module's bytes without the appended signature.
    func unsignedBytes(_ path: String) -> [UInt8] {
        let bytes = FileSystem.readBytes(path) ?? []
        let magic = Array("~Module signature appended~\n".utf8)
        guard bytes.count > magic.count + 12, Array(bytes.suffix(magic.count)) == magic else { return bytes }
        let info = bytes.count - magic.count - 12
        let length = bytes[(info + 8)..<(info + 12)].reduce(0) { $0 << 8 | Int($1) }
        return Array(bytes[0..<(info - length)])
    }

    /// Removes the version and builds it again from the same source.
    func rebuild() -> CommandResult {
        _ = sandbox.dkms(["remove", "hello-dkms/1.0", "--all"])
        _ = sandbox.dkms(["add", source])
        return sandbox.dkms(["build", "-k", kernel, "hello-dkms/1.0"])
    }

    func modinfo(_ field: String, _ path: String) -> String {
        CommandRunner.run("/sbin/modinfo", ["-F", field, path], environment: sandbox.environment).stdout
    }

    @Test func anUnchangedRebuildIsAHitThatPublishesTheSameModuleSignedLocally() {
        _ = sandbox.dkms(["add", source])
        var r = sandbox.dkms(["build", "-k", kernel, "hello-dkms/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(counters()["misses"] == 1 && counters()["stored"] == 1)
        let fresh = unsignedBytes(built)
        let freshInfo = ["version", "vermagic", "srcversion", "signer"].map { modinfo($0, built) }
        #expect(!fresh.isEmpty)

        r = rebuild()
        #expect(r.status == 0, "\(r)")
        #expect(r.stdoutWithoutProgressDots.contains("Building module(s)... done.\n"))
        #expect(counters()["hits"] == 1, "\(counters())")
        #expect(unsignedBytes(built) == fresh)
        #expect(["version", "vermagic", "srcversion", "signer"].map { modinfo($0, built) } == freshInfo)
        #expect(freshInfo[3].contains("DKMS module signing key"), "signed with the local key: \(freshInfo)")
        let log = (Files.read(makeLog) ?? "").split(separator: "\n", omittingEmptySubsequences: false)
        #expect(log.count > 3 && log[1].contains("from the module cache: entry "), "\(log.prefix(3))")
        #expect(log.contains { $0.hasPrefix("# command: make -j1 KERNELRELEASE=\(kernel)") })
        #expect(!Files.exists("\(sandbox.dkmsTree)/hello-dkms/1.0/build"))

        let json = sandbox.dkms(["status", "--json"]).stdout
        #expect(json.contains("\"origin\": {\"from_cache\": true, \"key\": \""), "\(json)")
        #expect(json.contains("\"hits\": 1"))

        r = sandbox.dkms(["install", "-k", kernel, "hello-dkms/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(unsignedBytes("\(sandbox.installTree)/\(kernel)/updates/dkms/hello_dkms.ko") == fresh)
    }

    @Test func aOneByteChangeInTheSourceAPatchOrTheMakeLineIsAMiss() {
        _ = sandbox.dkms(["add", source])
        _ = sandbox.dkms(["build", "-k", kernel, "hello-dkms/1.0"])
        var expectedMisses = 1

        // A source file.
        let file = source + "/hello_dkms.c"
        Files.write((Files.read(file) ?? "") + "\n", to: file)
        #expect(rebuild().status == 0)
        expectedMisses += 1
        #expect(counters()["misses"] == expectedMisses && (counters()["hits"] ?? 0) == 0, "\(counters())")

        // The same source again: a hit.
        #expect(rebuild().status == 0)
        #expect(counters()["hits"] == 1)

        // The dkms.conf MAKE line.
        let conf = source + "/dkms.conf"
        let original = Files.read(conf) ?? ""
        Files.write(original + "MAKE[0]=\"make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build modules\"\n", to: conf)
        #expect(rebuild().status == 0)
        expectedMisses += 1
        #expect(counters()["misses"] == expectedMisses, "\(counters())")

        // A patch, then a one-byte change of it.
        Files.makeDirectory(source + "/patches")
        Files.write("--- a/hello_dkms.c\n+++ b/hello_dkms.c\n@@ -0,0 +1 @@\n+/* patched */\n", to: source + "/patches/p.patch")
        Files.write(original + "PATCH[0]=\"p.patch\"\n", to: conf)
        let patched = rebuild()
        expectedMisses += 1
        #expect(counters()["misses"] == expectedMisses, "\(patched)")
        Files.write("--- a/hello_dkms.c\n+++ b/hello_dkms.c\n@@ -0,0 +1 @@\n+/* patches */\n", to: source + "/patches/p.patch")
        _ = rebuild()
        expectedMisses += 1
        #expect(counters()["misses"] == expectedMisses && counters()["hits"] == 1, "\(counters())")
    }

    @Test func aDamagedEntryIsAMissAndTheRebuildRepairsIt() throws {
        _ = sandbox.dkms(["add", source])
        _ = sandbox.dkms(["build", "-k", kernel, "hello-dkms/1.0"])
        let key = try #require(Files.list(entries).first { $0.count == 64 })
        let cached = "\(entries)/\(key)/modules/hello_dkms.ko"
        var bytes = try #require(FileSystem.readBytes(cached))
        bytes[bytes.count / 2] ^= 0xff
        FileManager.default.createFile(atPath: cached, contents: Data(bytes))

        let r = rebuild()
        #expect(r.status == 0, "\(r)")
        #expect(r.stderr.contains("is damaged"), "\(r.stderr)")
        #expect(counters()["misses"] == 2 && (counters()["hits"] ?? 0) == 0, "\(counters())")
        // Stored again, intact: the next rebuild is a hit.
        #expect(FileSystem.readBytes(cached) != bytes)
        #expect(rebuild().status == 0)
        #expect(counters()["hits"] == 1)
    }

    @Test func noCacheForceAndTheAdminsOptOutSkipTheLookUp() {
        _ = sandbox.dkms(["add", source])
        _ = sandbox.dkms(["build", "-k", kernel, "hello-dkms/1.0"])
        _ = sandbox.dkms(["remove", "hello-dkms/1.0", "--all"])
        _ = sandbox.dkms(["add", source])
        #expect(sandbox.dkms(["build", "-k", kernel, "hello-dkms/1.0", "--no-cache"]).status == 0)
        #expect(sandbox.dkms(["build", "-k", kernel, "hello-dkms/1.0", "--force"]).status == 0)
        Files.write("BUILD_CACHE=no\n", to: sandbox.etc + "/hello-dkms.conf")
        #expect(rebuild().status == 0)
        #expect((counters()["hits"] ?? 0) == 0, "\(counters())")
        #expect(counters()["stored"] == 3, "--no-cache and --force still store; the opt-out does not: \(counters())")
        let json = sandbox.dkms(["status", "--json"]).stdout
        #expect(json.contains("\"origin\": {\"from_cache\": false, \"key\": null, \"shared_location\": null, \"lookup\": null}"), "\(json)")
    }

    /// docs/cache.md: "a cache that cannot be read or written makes dkms
    /// behave as upstream does". Root reads and writes through any mode,
    /// so modes prove nothing: here the cache cannot be written (an empty
    /// one on a read-only mount) or read (its directory is a file). The
    /// build then prints, exits and leaves what a build with the cache off
    /// does, and the cache is left as it was.
    @Test func aCacheThatCannotBeUsedIsNoCache() throws {
        let cache = sandbox.dkmsTree + "/.cache"
        func build(_ environment: [String: String] = [:], readOnly: Bool = false) -> (status: Int32, stdout: String, stderr: String, modules: [String]) {
            _ = sandbox.dkms(["remove", "hello-dkms/1.0", "--all"])
            _ = sandbox.dkms(["add", source])
            var program = DKMSBinary.path, arguments = ["build", "-k", kernel, "hello-dkms/1.0"] + sandbox.treeOptions
            if readOnly {
                arguments = ["-m", "--propagation", "private", "/bin/sh", "-c",
                             "mount --bind \(cache) \(cache) && mount -o remount,bind,ro \(cache) && exec \"$0\" \"$@\"", program] + arguments
                program = "/usr/bin/unshare"
            }
            let r = CommandRunner.run(program, arguments, environment: sandbox.environment.merging(environment) { $1 },
                                      workingDirectory: sandbox.root.path)
            return (r.status, r.stdoutWithoutProgressDots, r.stderr, Files.list("\(sandbox.dkmsTree)/hello-dkms/1.0/\(kernel)/\(arch)/module"))
        }
        _ = build(["build_cache": "no"])  // makes the MOK key, which the first build says
        let off = build(["build_cache": "no"])
        #expect(off.status == 0 && off.modules.contains("hello_dkms.ko"), "\(off)")
        #expect(!Files.exists(cache), "build_cache=no makes no cache")

        Files.makeDirectory(cache)
        let readOnly = build(readOnly: true)
        #expect(readOnly.status == off.status && readOnly.stdout == off.stdout && readOnly.stderr == off.stderr, "\(readOnly)")
        #expect(readOnly.modules == off.modules)
        #expect(Files.walk(cache).isEmpty, "nothing could be stored")

        FileSystem.removeTree(cache)
        Files.write("not a directory\n", to: cache)
        let file = build()
        #expect(file.status == off.status && file.stdout == off.stdout && file.stderr == off.stderr, "\(file)")
        #expect(file.modules == off.modules)
        #expect(Files.read(cache) == "not a directory\n")
        #expect(sandbox.dkms(["status"]).stdout.contains("hello-dkms/1.0, \(kernel), \(arch): built"))
    }

    @Test func aOneByteChangeInTheKernelsConfigIsAMiss() {
        // The kernel's build directory, copied so that its .config can change.
        let headers = "\(sandbox.installTree)/\(kernel)/build"
        let real = FileSystem.canonicalPath("/lib/modules/\(kernel)/build") ?? ""
        FileSystem.removeFile(headers)
        _ = CommandRunner.run("/bin/cp", ["-a", real, headers], environment: sandbox.environment)
        for link in ["scripts", "tools"] where FileSystem.isSymlink(headers + "/" + link) {
            let target = FileSystem.canonicalPath(real + "/" + link) ?? ""
            FileSystem.removeFile(headers + "/" + link)
            _ = FileSystem.symlink(target: target, at: headers + "/" + link)
        }
        _ = sandbox.dkms(["add", source])
        #expect(sandbox.dkms(["build", "-k", kernel, "hello-dkms/1.0"]).status == 0)
        #expect(rebuild().status == 0)
        #expect(counters()["hits"] == 1 && counters()["misses"] == 1, "\(counters())")
        Files.write((Files.read(headers + "/.config") ?? "") + "#\n", to: headers + "/.config")
        _ = rebuild()
        #expect(counters()["hits"] == 1 && counters()["misses"] == 2, "\(counters())")
        // A new upload of the same release: .config and Module.symvers as
        // they were, the banner of the headers another one.
        _ = rebuild()
        #expect(counters()["hits"] == 2 && counters()["misses"] == 2, "\(counters())")
        let utsversion = headers + "/include/generated/utsversion.h"
        let banner = Files.read(utsversion) ?? ""
        #expect(banner.contains("UTS_VERSION"), "the real headers have \(utsversion)")
        FileSystem.removeFile(utsversion)
        Files.write(banner.replacingOccurrences(of: "#1 ", with: "#2 "), to: utsversion)
        _ = rebuild()
        #expect(counters()["hits"] == 2 && counters()["misses"] == 3, "\(counters())")
    }
}
