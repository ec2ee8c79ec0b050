import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// Modules built for a kernel with CONFIG_MODULE_SIG_HASH are signed with
/// the dkms MOK key (created on first use) before compression, and the
/// signature verifies against the certificate.
@Suite("Module signing", .serialized, .enabled(if: InstalledHeaders.first != nil, "no kernel headers installed"))
struct SigningTests {
    let sandbox = DKMSSandbox(signing: true)
    let kernel = InstalledHeaders.first ?? ""
    let arch = Settings.uname().machine
    var key: String { sandbox.root.child("mok/mok.key") }
    var certificate: String { sandbox.root.child("mok/mok.pub") }

    init() {
        Files.makeDirectory(sandbox.root.child("mok"))
        // framework.conf values also come from the environment, as upstream allows.
        sandbox.environment["try_sign_modules"] = "true"
        sandbox.environment["mok_signing_key"] = key
        sandbox.environment["mok_certificate"] = certificate
        Files.makeDirectory("\(sandbox.installTree)/\(kernel)")
        _ = FileSystem.symlink(target: "/lib/modules/\(kernel)/build", at: "\(sandbox.installTree)/\(kernel)/build")
    }

    /// The signer's serial as modinfo prints it, from the certificate.
    func certificateSerial() -> String {
        let out = CommandRunner.run("/usr/bin/openssl", ["x509", "-serial", "-inform", "DER", "-in", certificate, "-noout"], environment: sandbox.environment)
        return String(out.stdout.dropFirst("serial=".count)).trimmingCharacters(in: .whitespacesAndNewlines).uppercased()
    }

    /// Splits a signed module into content and PKCS#7 signature and checks
    /// the signature with openssl against the MOK certificate.
    func signatureVerifies(_ module: [UInt8]) -> Bool {
        let magic = Array("~Module signature appended~\n".utf8)
        guard module.count > magic.count + 12, Array(module.suffix(magic.count)) == magic else { return false }
        let info = module.count - magic.count - 12
        let length = module[(info + 8)..<(info + 12)].reduce(0) { $0 << 8 | Int($1) }
        let contentEnd = info - length
        guard contentEnd > 0 else { return false }
        let dir = sandbox.root.child("verify")
        Files.makeDirectory(dir)
        FileManager.default.createFile(atPath: dir + "/content", contents: Data(module[0..<contentEnd]))
        FileManager.default.createFile(atPath: dir + "/sig.p7", contents: Data(module[contentEnd..<info]))
        _ = CommandRunner.run("/usr/bin/openssl", ["x509", "-inform", "DER", "-in", certificate, "-out", dir + "/cert.pem"], environment: sandbox.environment)
        let verify = CommandRunner.run("/usr/bin/openssl", [
            "cms", "-verify", "-binary", "-inform", "DER", "-in", dir + "/sig.p7", "-content", dir + "/content",
            "-certfile", dir + "/cert.pem", "-nointern", "-noverify", "-out", "/dev/null",
        ], environment: sandbox.environment)
        return verify.status == 0
    }

    func modinfo(_ field: String, _ path: String) -> String {
        CommandRunner.run("/sbin/modinfo", ["-F", field, path], environment: sandbox.environment).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func signsWithAGeneratedKeyAndTheSignatureVerifies() throws {
        _ = sandbox.dkms(["add", DKMSBinary.packageRoot + "/examples/hello-dkms"])
        let r = sandbox.dkms(["install", "-k", kernel, "hello-dkms/1.0"])
        #expect(r.status == 0, "\(r)")
        let series = kernel.split(separator: ".").prefix(2).joined(separator: ".")
        #expect(r.stdoutWithoutProgressDots == """
            Sign command: /usr/lib/linux-kbuild-\(series)/scripts/sign-file
            Signing key: \(key)
            Public certificate (MOK): \(certificate)
            Certificate or key are missing, generating self signed certificate for MOK...

            Building module(s)... done.
            Signing module \(sandbox.dkmsTree)/hello-dkms/1.0/build/hello_dkms.ko
            Installing \(sandbox.installTree)/\(kernel)/updates/dkms/hello_dkms.ko
            Running depmod... done.

            """)
        let installed = "\(sandbox.installTree)/\(kernel)/updates/dkms/hello_dkms.ko"
        #expect(modinfo("signer", installed) == "DKMS module signing key")
        #expect(modinfo("sig_key", installed).replacingOccurrences(of: ":", with: "") == certificateSerial())
        let bytes = try #require(FileManager.default.contents(atPath: installed))
        #expect(signatureVerifies(Array(bytes)))
        var tampered = Array(bytes)
        tampered[100] ^= 0xFF
        #expect(!signatureVerifies(tampered))
    }

    @Test func compressedModulesAreSignedBeforeCompression() throws {
        Files.write("x", to: "\(sandbox.installTree)/\(kernel)/kernel/dummy.ko.xz")
        _ = sandbox.dkms(["add", DKMSBinary.packageRoot + "/examples/hello-dkms"])
        let r = sandbox.dkms(["install", "-k", kernel, "hello-dkms/1.0"])
        #expect(r.status == 0, "\(r)")
        let installed = "\(sandbox.installTree)/\(kernel)/updates/dkms/hello_dkms.ko.xz"
        #expect(Files.exists(installed))
        #expect(modinfo("signer", installed) == "DKMS module signing key")
        let plain = CommandRunner.run("/usr/bin/xz", ["-dk", installed], environment: sandbox.environment)
        #expect(plain.status == 0)
        let bytes = try #require(FileManager.default.contents(atPath: String(installed.dropLast(3))))
        #expect(signatureVerifies(Array(bytes)))
    }

    @Test func signingCanBeTurnedOff() {
        sandbox.environment["try_sign_modules"] = "false"
        _ = sandbox.dkms(["add", DKMSBinary.packageRoot + "/examples/hello-dkms"])
        let r = sandbox.dkms(["build", "-k", kernel, "hello-dkms/1.0"])
        #expect(r.stdoutWithoutProgressDots == "Module signing is disabled by policy, modules won't be signed\n\nBuilding module(s)... done.\n")
        #expect(modinfo("signer", "\(sandbox.dkmsTree)/hello-dkms/1.0/\(kernel)/\(arch)/module/hello_dkms.ko") == "")
        #expect(!Files.exists(key))
    }
}
