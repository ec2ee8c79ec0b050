import DKMSTestSupport
import Foundation
import Testing
@testable import DKMSCore

/// The kernel's sign-file and kmod's modinfo, when installed.
enum SigningTools {
    static let signFile: String? = {
        let base = "/usr/lib"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        return entries.filter { $0.hasPrefix("linux-kbuild-") }.sorted().map { "\(base)/\($0)/scripts/sign-file" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
    static let modinfo = ["/sbin/modinfo", "/usr/sbin/modinfo", "/usr/bin/modinfo"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
}

/// The native reader reports a module's signature as `modinfo` does
/// (`signer`, `sig_key`, `sig_hashalgo`), for modules signed by the
/// kernel's own sign-file with keys like the ones dkms generates.
@Suite("Module signatures", .enabled(if: SigningTools.signFile != nil && SigningTools.modinfo != nil,
                                     "needs sign-file (linux-kbuild) and modinfo"))
struct ModuleSignatureTests {
    let directory = TemporaryDirectory(prefix: "module-signature")
    let environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]

    /// A fake module signed with a fresh key whose certificate has `serial`
    /// and `subject`, hashed with `hash`.
    func signedModule(hash: String, serial: String, subject: String) -> String {
        let dir = directory.path
        Files.write("__attribute__((section(\".modinfo\"), used, aligned(1))) static const char v[] = \"version=1\";\n", to: "\(dir)/m.c")
        _ = CommandRunner.run("/usr/bin/cc", ["-c", "\(dir)/m.c", "-o", "\(dir)/m.ko"], environment: environment)
        let made = CommandRunner.run("/usr/bin/openssl", [
            "req", "-new", "-x509", "-nodes", "-days", "10", "-subj", subject, "-set_serial", serial,
            "-newkey", "rsa:2048", "-keyout", "\(dir)/k.pem", "-outform", "DER", "-out", "\(dir)/c.der",
        ], environment: environment)
        #expect(made.status == 0, "\(made)")
        let signed = CommandRunner.run(SigningTools.signFile!, [hash, "\(dir)/k.pem", "\(dir)/c.der", "\(dir)/m.ko"], environment: environment)
        #expect(signed.status == 0, "\(signed)")
        return "\(dir)/m.ko"
    }

    func modinfo(_ field: String, _ path: String) -> String {
        CommandRunner.run(SigningTools.modinfo!, ["-F", field, path], environment: environment).stdout
            .trimmingCharacters(in: .newlines)
    }

    @Test(arguments: [
        ("sha256", "0x55118DCFB4B793851C42175820DF36FBADB1432F", "/CN=DKMS module signing key"),
        ("sha512", "0x80000000000000000001", "/O=Example/CN=Secure Boot Signer"),
        ("sha256", "7", "/CN=k"),
    ])
    func matchesModinfo(hash: String, serial: String, subject: String) {
        let path = signedModule(hash: hash, serial: serial, subject: subject)
        let signature = ModuleInfoReader.signature(path: path)
        #expect(signature != nil)
        #expect(signature?.signer == modinfo("signer", path))
        #expect(signature?.keyID == modinfo("sig_key", path))
        #expect(signature?.hashAlgorithm == modinfo("sig_hashalgo", path))
        #expect(signature?.hashAlgorithm == hash)
    }

    @Test func unsignedModuleHasNoSignature() {
        Files.write("int f(void) { return 0; }\n", to: directory.child("u.c"))
        _ = CommandRunner.run("/usr/bin/cc", ["-c", directory.child("u.c"), "-o", directory.child("u.ko")], environment: environment)
        #expect(ModuleInfoReader.signature(path: directory.child("u.ko")) == nil)
        #expect(ModuleInfoReader.signature(path: directory.child("missing.ko")) == nil)
    }

    @Test func truncatedSignatureIsNotACrash() {
        var bytes = Array(repeating: UInt8(0), count: 64) + [0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0x10, 0]
        bytes += Array("~Module signature appended~\n".utf8)
        #expect(ModuleSignature.parse(bytes) == ModuleSignature(signer: nil, keyID: nil, hashAlgorithm: nil))
    }
}
