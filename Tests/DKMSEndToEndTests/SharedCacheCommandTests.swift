import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// Every command that reads cache entries, run by the real binary over a
/// local cache and an export directory planted with out-of-range values:
/// each ends with its usual status, never a runtime trap (exit 132/133).
@Suite("Shared cache commands on hostile entries")
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
}
