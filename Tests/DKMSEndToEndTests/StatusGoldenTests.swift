import DKMSTestSupport
import Foundation
import Testing

/// `status` on a tree with every state and suffix (60 modules x 6
/// kernels, made by bench/make-status-tree.sh) prints exactly what
/// upstream 3.4.3 printed for it (Tests/Golden/status-60x6.txt), and
/// `status --json` follows docs/status.schema.json.
@Suite("Status golden output", .serialized)
struct StatusGoldenTests {
    let directory = TemporaryDirectory(prefix: "status-tree")

    init() {
        _ = CommandRunner.run("/bin/bash", [DKMSBinary.packageRoot + "/bench/make-status-tree.sh", directory.path],
                              environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
    }

    func status(_ extra: [String] = []) -> CommandResult {
        CommandRunner.run(DKMSBinary.path, ["status"] + extra + [
            "--dkmstree", directory.child("dkms"), "--sourcetree", directory.child("src"), "--installtree", directory.child("modules"),
        ], environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SWIFT_DKMS_SYSCONFDIR": directory.child("etc")])
    }

    @Test func textIsByteIdenticalToUpstream() throws {
        let golden = try #require(Files.read(DKMSBinary.packageRoot + "/Tests/Golden/status-60x6.txt"))
        let r = status()
        #expect(r.status == 0)
        #expect(r.stderr == "")
        #expect(r.stdout.replacingOccurrences(of: directory.path, with: "ROOT") == golden)
        for suffix in ["(Original modules exist)", "(Differences between built and installed modules)",
                       "(Built modules are missing in the kernel modules folder)", ": added", ": built", ": installed"] {
            #expect(golden.contains(suffix))
        }
    }

    /// A dkms.conf that reads `$kernelver` (bash) is evaluated for each
    /// kernel; a plain one (read once per command) answers the same for all.
    @Test func aConfThatReadsTheKernelIsEvaluatedPerKernel() throws {
        let before = status(["-m", "benchmod02"]).stdout.split(separator: "\n").map(String.init)
        #expect(before.count == 6)
        let picked = "6.1.0-21-amd64"
        Files.write("""
            PACKAGE_NAME="benchmod02"
            PACKAGE_VERSION="1.0"
            BUILT_MODULE_NAME[0]="benchmod02$([ "$kernelver" = \(picked) ] && echo x)"
            DEST_MODULE_LOCATION[0]="/extra"
            AUTOINSTALL="yes"

            """, to: directory.child("src/benchmod02-1.0/dkms.conf"))
        expectOnlyKernelChanged(picked, before: before)
    }

    /// benchmod02's status now shows, for `picked` alone, a built module
    /// that is missing where it was installed (its BUILT_MODULE_NAME changed
    /// there), every other line as `before`.
    func expectOnlyKernelChanged(_ picked: String, before: [String]) {
        let r = status(["-m", "benchmod02"])
        #expect(r.status == 0 && r.stderr == "")
        let expected = before.map { line in
            guard line.contains(", \(picked), ") else { return line }
            return line.replacingOccurrences(of: " (Differences between built and installed modules)", with: "")
                + " (Built modules are missing in the kernel modules folder)"
        }
        #expect(r.stdout.split(separator: "\n").map(String.init) == expected)
        #expect(expected != before)
    }

    /// The overrides in /etc/dkms apply to the module, version, kernel and
    /// arch they name, and to no other line.
    @Test(.enabled(if: testingOurBinary, "swift-dkms only (SWIFT_DKMS_SYSCONFDIR)"))
    func overridesApplyToTheKernelsTheyName() throws {
        let before = status(["-m", "benchmod02"]).stdout.split(separator: "\n").map(String.init)
        let picked = "6.1.0-22-amd64"
        let etc = directory.child("etc")
        try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
        Files.write("BUILT_MODULE_NAME[0]=\"other\"\n", to: etc + "/benchmod02-1.0-\(picked)-x86_64.conf")
        Files.write("BUILT_MODULE_NAME[0]=\"other\"\n", to: etc + "/benchmod03-1.0-\(picked).conf")
        expectOnlyKernelChanged(picked, before: before)
    }

    @Test(.enabled(if: testingOurBinary, "swift-dkms only"))
    func jsonFollowsTheSchemaAndTheText() throws {
        let r = status(["--json"])
        #expect(r.status == 0)
        let document = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        let schemaData = try #require(FileManager.default.contents(atPath: DKMSBinary.packageRoot + "/docs/status.schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: schemaData) as? [String: Any])
        #expect(SchemaValidator.validate(document, against: schema) == [])
        let entries = try #require((document as? [String: Any])?["entries"] as? [[String: Any]])
        let text = status().stdout.split(separator: "\n")
        #expect(entries.count == text.count)
        let differing = entries.filter { (($0["flags"] as? [String: Any])?["differences"] as? Bool) == true }.count
        #expect(differing == text.filter { $0.contains("(Differences") }.count)
        let installed = entries.filter { $0["state"] as? String == "installed" }
        #expect(installed.allSatisfy { !(($0["installed_paths"] as? [String]) ?? []).isEmpty })
        // The validator itself rejects a broken document.
        #expect(!SchemaValidator.validate(["schema": "other", "entries": [["module": 1]]], against: schema).isEmpty)
    }

    @Test(.enabled(if: testingOurBinary, "swift-dkms only"))
    func brokenEntriesCarryTheirReason() throws {
        let broken = directory.child("dkms/benchmod01/1.0/source")
        try FileManager.default.removeItem(atPath: broken)
        let r = status(["--json", "-m", "benchmod01"])
        #expect(r.stderr == "")
        #expect(r.stdout.contains("\"state\": \"broken\""))
        #expect(r.stdout.contains("is missing while"))
    }
}
