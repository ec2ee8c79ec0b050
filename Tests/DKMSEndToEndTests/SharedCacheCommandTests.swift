#if canImport(Glibc)
import Glibc
#endif
import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// Every command that reads cache entries, run by the real binary over a
/// local cache and an export directory planted with out-of-range values:
/// each ends with its usual status, never a runtime trap (exit 132/133).
/// And an autoinstall of three modules against a server that refuses
/// connections or never answers: one warning, seconds lost once.
@Suite("Shared cache commands against hostile entries and servers")
struct SharedCacheCommandTests {
    let sandbox = DKMSSandbox()
    let good = String(repeating: "a", count: 64)

    func manifest(_ key: String, created: String) -> String {
        "swift-dkms cache entry 1\nkey \(key)\ntarget m 1 6.1.0-test x86_64\ncreated \(created)\n"
            + "file 73cb3858a687a8494ca3323053016282f3dad39d42cf62ca4e79dda2aac7d9ac 2 make.log\n"
    }

    /// A good entry (its `used` far in the future) and out-of-range ones,
    /// counters at their maximum, and an export directory holding an
    /// unsigned out-of-range manifest.
    func plant() -> String {
        let entries = sandbox.dkmsTree + "/.cache/entries/"
        Files.write(manifest(good, created: "4294967295"), to: entries + good + "/manifest")
        Files.write("x\n", to: entries + good + "/make.log")
        Files.write("", to: entries + good + "/used")
        _ = CommandRunner.run("/usr/bin/touch", ["-d", "@99999999999", entries + good + "/used"], environment: sandbox.environment)
        for (digit, created) in zip(["b", "c", "d", "e"], ["9223372036854775807", "-1", "99999999999999999999", "١٢٣"]) {
            let key = String(repeating: digit, count: 64)
            Files.write(manifest(key, created: created), to: entries + key + "/manifest")
            Files.write("", to: entries + key + "/used")
        }
        Files.write("hits 9223372036854775807\nmisses 9223372036854775807\nstored -1\nevicted 99999999999999999999\n",
                    to: sandbox.dkmsTree + "/.cache/stats")
        let export = sandbox.root.child("export")
        Files.write(manifest(String(repeating: "f", count: 64), created: "9223372036854775807"),
                    to: export + "/entries/" + String(repeating: "f", count: 64) + "/manifest")
        return export
    }

    func expectClean(_ result: CommandResult, _ what: String, status: Int32 = 0) {
        #expect(result.status == status, "\(what): \(result.combined)")
        #expect(!result.combined.contains("Swift runtime failure") && !result.combined.contains("Fatal error"), "\(what)")
    }

    @Test func listStatsStatusPruneAndExportSurviveOutOfRangeValues() {
        let export = plant()
        let list = sandbox.dkms(["cache", "list"])
        expectClean(list, "cache list")
        #expect(list.stdout.split(separator: "\n").count == 1 && list.stdout.hasPrefix(String(good.prefix(12))), "only the good entry")
        let stats = sandbox.dkms(["cache", "stats"])
        expectClean(stats, "cache stats")
        #expect(stats.stdout.contains("entries: 1\n") && stats.stdout.contains("hit rate: 50%\n"))
        expectClean(sandbox.dkms(["status", "--json"]), "status --json")
        expectClean(sandbox.dkms(["cache", "keygen", sandbox.etc + "/cache-signing"]), "cache keygen")
        let exported = sandbox.dkms(["cache", "export", export])
        expectClean(exported, "cache export")
        #expect(Files.read(export + "/index") == "\(good) m 1 6.1.0-test x86_64\n")
        expectClean(sandbox.dkms(["cache", "prune", "1G"]), "cache prune 1G")
        expectClean(sandbox.dkms(["cache", "prune", "99999999999999999999999T"]), "cache prune huge", status: 1)
        expectClean(sandbox.dkms(["cache", "prune", "0"]), "cache prune 0")
        #expect(sandbox.dkms(["cache", "list"]).stdout.isEmpty)
    }

    /// A socket on 127.0.0.1 that listens and never accepts (the kernel
    /// completes connections into its backlog: a server that never
    /// answers), or, closed, a port that refuses connections.
    static func listener(closed: Bool) -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        listen(fd, 64)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        if closed { close(fd) }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// `cache keygen` never replaces a key: not NAME.key, not a trusted
    /// NAME.pub, and it follows no link planted at either (a keygen into a
    /// world-writable directory must not overwrite what the link names).
    @Test func keygenReplacesNothing() {
        let name = sandbox.root.child("fleet")
        let first = sandbox.dkms(["cache", "keygen", name])
        expectClean(first, "keygen")
        let key = FileSystem.readBytes(name + ".key"), pub = FileSystem.readBytes(name + ".pub")
        #expect(key != nil && pub != nil)
        let again = sandbox.dkms(["cache", "keygen", name])
        #expect(again.status == 1 && again.stderr.contains("Error! \(name).key already exists; dkms cache keygen does not replace a key."), "\(again)")
        #expect(FileSystem.readBytes(name + ".key") == key && FileSystem.readBytes(name + ".pub") == pub)

        // Only the public key there (a client's trusted key), or a link at it.
        let victim = sandbox.root.child("victim")
        Files.write("precious\n", to: victim)
        for (n, plant) in [("trusted", false), ("linked", true)] {
            let other = sandbox.root.child(n)
            if plant { _ = FileSystem.symlink(target: victim, at: other + ".pub") } else { Files.write("a trusted key\n", to: other + ".pub") }
            let r = sandbox.dkms(["cache", "keygen", other])
            #expect(r.status == 1 && r.stderr.contains("Error! \(other).pub already exists; dkms cache keygen does not replace a key."), "\(n): \(r)")
            #expect(!Files.exists(other + ".key"), "\(n): no private key left without its public one")
        }
        #expect(Files.read(victim) == "precious\n")
        #expect(Files.read(sandbox.root.child("trusted") + ".pub") == "a trusted key\n")
    }

    /// `cache export` into a directory another user could change (here
    /// 0777) is refused before anything is written there.
    @Test func exportRefusesADirectoryOthersCanChange() {
        _ = plant()
        expectClean(sandbox.dkms(["cache", "keygen", sandbox.etc + "/cache-signing"]), "keygen")
        let open = sandbox.root.child("open-export")
        Files.makeDirectory(open)
        chmod(open, 0o777)
        let r = sandbox.dkms(["cache", "export", open])
        #expect(r.status == 1, "\(r)")
        #expect(r.stderr.contains("Error! Refusing to export to \(open): \(open) is writable by its group or others (mode 777)."), "\(r.stderr)")
        #expect(Files.list(open).isEmpty, "nothing written")
        chmod(open, 0o755)
        expectClean(sandbox.dkms(["cache", "export", open]), "export once it is root's alone")
        #expect(Files.exists(open + "/index"))
    }

    @Test(arguments: [false, true])
    func aDeadServerCostsOneWarningAndSecondsPerCommand(silent: Bool) {
        let server = Self.listener(closed: !silent)
        defer { if silent { close(server.fd) } }
        sandbox.addFakeKernel(DKMSSandbox.fakeKernel)
        for name in ["alpha", "bravo", "charlie"] {
            _ = sandbox.dkms(["add", sandbox.writeModule(name: name, version: "1.0")])
        }
        Files.write("build_cache_shared=\"http://127.0.0.1:\(server.port)/cache\"\n", to: sandbox.etc + "/framework.conf")
        let started = Date()
        let result = sandbox.dkms(["autoinstall", "-k", DKMSSandbox.fakeKernel])
        let elapsed = Date().timeIntervalSince(started)
        expectClean(result, "autoinstall")
        let warnings = result.stderr.split(separator: "\n").filter { $0.contains("could not be read") }
        #expect(warnings.count == 1, "\(result.stderr)")
        #expect(warnings.first?.contains("it is not used again by this command") == true)
        #expect(result.stdout.components(separatedBy: "Building module(s)... done.").count == 4, "three modules built locally")
        // Silent: the low-speed abort (5 s) once, not once per module; refused: nothing to wait for.
        #expect(elapsed < (silent ? 15 : 8), "\(elapsed) s")
        if silent { #expect(warnings.first?.contains("(28)") == true) }
    }
}
