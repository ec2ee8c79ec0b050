import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// After install, with Secure Boot on and the signing key not enrolled,
/// dkms explains on stderr how to enroll it; in every other state it is
/// silent. A stand-in mokutil on PATH plays each state.
@Suite("Secure Boot explained", .serialized)
struct SecureBootTests {
    let kernel = DKMSSandbox.fakeKernel
    let sandbox = DKMSSandbox.withFakeKernel()
    var certificate: String { sandbox.root.child("mok.pub") }
    var calls: String { sandbox.root.child("mokutil.calls") }

    init() {
        Files.write("certificate", to: sandbox.root.child("mok.pub"))
        Files.write("key", to: sandbox.root.child("mok.key"))
        sandbox.environment["try_sign_modules"] = nil
        sandbox.environment["mok_certificate"] = certificate
        sandbox.environment["mok_signing_key"] = sandbox.root.child("mok.key")
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "sbmod", version: "1.0")])
    }

    /// Puts a mokutil on PATH that answers --sb-state and --test-key.
    func mokutil(sbState: String, sbStatus: Int = 0, testKey: String, testStatus: Int = 0) {
        let bin = sandbox.root.child("bin")
        Files.write("""
            #!/bin/sh
            echo "$*" >>'\(calls)'
            case "$1" in
            --sb-state) echo '\(sbState)'; exit \(sbStatus) ;;
            --test-key) echo "\(testKey)"; exit \(testStatus) ;;
            esac
            exit 1
            """, to: "\(bin)/mokutil", executable: true)
        sandbox.environment["PATH"] = bin + ":" + (sandbox.environment["PATH"] ?? "/usr/bin:/bin")
    }

    func install() -> CommandResult {
        sandbox.dkms(["install", "-k", kernel, "sbmod/1.0"])
    }

    @Test func enabledAndNotEnrolledExplains() {
        mokutil(sbState: "SecureBoot enabled", testKey: "\(certificate) is not enrolled")
        let r = install()
        #expect(r.status == 0, "\(r)")
        #expect(r.stderr.contains("dkms: Secure Boot is enabled and the key dkms signs modules with (\(certificate)) is not enrolled"))
        #expect(r.stderr.contains("dkms: To enroll it, run: mokutil --import \(certificate)\n"))
        #expect(r.stderr.contains("one-time password"))
        #expect(r.stderr.contains("MOK manager"))
        #expect(!r.stdout.contains("mokutil"))
        #expect(Files.read(calls) == "--sb-state\n--test-key \(certificate)\n")
        // Nothing new installed: nothing said.
        let again = install()
        #expect(!again.stderr.contains("Secure Boot"))
    }

    @Test func enabledAndPendingSaysWhatBootAsks() {
        mokutil(sbState: "SecureBoot enabled", testKey: "\(certificate) is already in the enrollment request")
        let r = install()
        #expect(r.status == 0)
        #expect(r.stderr.contains("is queued for enrollment"))
        #expect(!r.stderr.contains("mokutil --import \(certificate)\n"))
    }

    @Test func enabledAndEnrolledIsSilent() {
        mokutil(sbState: "SecureBoot enabled", testKey: "\(certificate) is already enrolled", testStatus: 1)
        let r = install()
        #expect(r.status == 0)
        #expect(!r.stderr.contains("Secure Boot"))
        #expect(Files.read(calls)?.contains("--test-key") == true)
    }

    @Test func disabledIsSilent() {
        mokutil(sbState: "SecureBoot disabled", testKey: "\(certificate) is not enrolled")
        let r = install()
        #expect(r.status == 0)
        #expect(!r.stderr.contains("Secure Boot"))
        #expect(Files.read(calls) == "--sb-state\n")
    }

    @Test func withoutEFIVariablesIsSilent() {
        mokutil(sbState: "EFI variables are not supported on this system", sbStatus: 255, testKey: "")
        let r = install()
        #expect(r.status == 0)
        #expect(!r.stderr.contains("Secure Boot"))
    }

    @Test(.enabled(if: !FileManager.default.isExecutableFile(atPath: "/usr/bin/mokutil")
                   && !FileManager.default.isExecutableFile(atPath: "/bin/mokutil"), "a real mokutil is installed"))
    func withoutMokutilIsSilentAndOutputUnchanged() {
        let r = install()
        #expect(r.status == 0)
        #expect(!r.stderr.contains("Secure Boot"))
        #expect(!Files.exists(calls))
    }

    @Test func signingTurnedOffIsSilent() {
        mokutil(sbState: "SecureBoot enabled", testKey: "\(certificate) is not enrolled")
        sandbox.environment["try_sign_modules"] = "false"
        let r = install()
        #expect(r.status == 0)
        #expect(!r.stderr.contains("Secure Boot"))
    }

    @Test func standardOutputIsTheSameWithOrWithoutTheExplanation() {
        let quiet = DKMSSandbox.withFakeKernel()
        quiet.environment["try_sign_modules"] = nil
        quiet.environment["mok_certificate"] = certificate
        quiet.environment["mok_signing_key"] = sandbox.root.child("mok.key")
        _ = quiet.dkms(["add", quiet.writeModule(name: "sbmod", version: "1.0")])
        let plain = quiet.dkms(["install", "-k", kernel, "sbmod/1.0"])
        mokutil(sbState: "SecureBoot enabled", testKey: "\(certificate) is not enrolled")
        let explained = install()
        #expect(explained.stderr.contains("mokutil --import"))
        #expect(explained.stdout.replacingOccurrences(of: sandbox.root.path, with: "ROOT")
                == plain.stdout.replacingOccurrences(of: quiet.root.path, with: "ROOT"))
    }
}

/// `status --json` says per installed module whether it is signed and with
/// which key, as modinfo reports it.
@Suite("Signature in status --json", .serialized)
struct StatusSignatureTests {
    static let signFile: String? = {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib")) ?? []
        return entries.filter { $0.hasPrefix("linux-kbuild-") }.sorted().map { "/usr/lib/\($0)/scripts/sign-file" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
    let kernel = DKMSSandbox.fakeKernel
    let sandbox = DKMSSandbox.withFakeKernel()

    func signature() -> [String: Any]? {
        let json = sandbox.dkms(["status", "--json"]).stdout
        let document = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let entries = document?["entries"] as? [[String: Any]] ?? []
        return entries.first { $0["state"] as? String == "installed" }?["signature"] as? [String: Any]
    }

    @Test func unsignedThenSigned() throws {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "sigmod", version: "1.0")])
        #expect(sandbox.dkms(["install", "-k", kernel, "sigmod/1.0"]).status == 0)
        let unsigned = try #require(signature())
        #expect(unsigned["signed"] as? Bool == false)
        #expect(unsigned["signer"] is NSNull)
        guard let signFile = Self.signFile else { return }
        let env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        let key = sandbox.root.child("k.pem")
        let cert = sandbox.root.child("c.der")
        _ = CommandRunner.run("/usr/bin/openssl", [
            "req", "-new", "-x509", "-nodes", "-days", "10", "-subj", "/CN=DKMS module signing key", "-set_serial", "0x1234ABCD",
            "-newkey", "rsa:2048", "-keyout", key, "-outform", "DER", "-out", cert,
        ], environment: env)
        let installed = "\(sandbox.installTree)/\(kernel)/updates/dkms/sigmod.ko"
        #expect(CommandRunner.run(signFile, ["sha256", key, cert, installed], environment: env).status == 0)
        let signed = try #require(signature())
        #expect(signed["signed"] as? Bool == true)
        #expect(signed["signer"] as? String == "DKMS module signing key")
        #expect(signed["sig_key"] as? String == "12:34:AB:CD")
    }

    @Test func onlyInstalledEntriesCarryIt() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "sigmod", version: "1.0")])
        _ = sandbox.dkms(["build", "-k", kernel, "sigmod/1.0"])
        let json = sandbox.dkms(["status", "--json"]).stdout
        #expect(json.contains("\"state\": \"built\""))
        #expect(!json.contains("\"signature\""))
    }
}
