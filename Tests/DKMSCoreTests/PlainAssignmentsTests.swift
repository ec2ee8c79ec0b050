import DKMSTestSupport
import Testing
@testable import DKMSCore

/// Files read without bash must give exactly what bash gives; everything
/// else must be left to bash.
@Suite("Plain assignments without bash")
struct PlainAssignmentsTests {
    static let plainFiles = [
        "PACKAGE_NAME=\"hello\"\nPACKAGE_VERSION=1.0\n",
        "# comment\n\n  BUILT_MODULE_NAME[0]='a b'\nBUILT_MODULE_NAME[3]=x\"y\"'z'   # trailing\n",
        "PACKAGE_NAME=\"crlf\"\r\nPACKAGE_VERSION=2.0\r\nAUTOINSTALL=yes\r\n",
        "DEST_MODULE_LOCATION[0]=\"/kernel/drivers/net\"\nSTRIP[0]=no\nMAKE[0]=\"make -C src KVER=6.1 all\"\n",
        "CLEAN=\"make clean\"\nREMAKE_INITRD=no\nPACKAGE_NAME=\nPACKAGE_VERSION=''\n",
    ]

    static let bashFiles = [
        "PACKAGE_VERSION=$(echo 1)\n",
        "MAKE[0]='make K=$kernelver'\n",
        "if true; then PACKAGE_NAME=x; fi\n",
        "BUILT_MODULE_NAME=(a b)\n",
        "PACKAGE_NAME=a b\n",
        "PACKAGE_NAME=\"multi\nline\"\n",
        "export PACKAGE_NAME=x\n",
        "PACKAGE_NAME=~/x\n",
        "PACKAGE_NAME='a\"b'\n",
        "PACKAGE_NAME=a\\\nb\n",
    ]

    @Test("Plain files read like bash reads them", arguments: plainFiles)
    func sameAsBash(text: String) async throws {
        let dir = TemporaryDirectory()
        Files.write(text, to: dir.child("dkms.conf"))
        let request = ShellSourcer.Request(
            globals: [], environment: ["PATH": "/usr/bin:/bin"], files: [dir.child("dkms.conf")],
            names: ModuleConfig.variableNames, unsetFirst: true)
        let sourcer = ShellSourcer(runner: SubprocessRunner())
        let plain = try #require(sourcer.evaluatePlain(request, console: nil))
        let bash = await sourcer.evaluateWithBash(request)
        #expect(plain == bash)
    }

    @Test("Files that need bash are recognised", arguments: bashFiles)
    func needsBash(text: String) {
        #expect(PlainAssignments.parse(text) == nil)
    }

    @Test func deprecationWarningsMatchBash() {
        var variables = ShellVariables()
        variables["CLEAN"] = ShellArray(scalar: "make clean")
        variables["OBSOLETE_BY"] = ShellArray(scalar: "5.0")
        #expect(ShellSourcer.deprecations(variables, file: "/x/dkms.conf") == [
            "Deprecated feature: CLEAN (/x/dkms.conf)",
            "Deprecated feature: OBSOLETE_BY (/x/dkms.conf): use BUILD_EXCLUSIVE_KERNEL_MAX instead",
        ])
        variables["CLEAN"] = ShellArray(scalar: "/bin/true")
        #expect(ShellSourcer.deprecations(variables, file: "f").count == 1)
    }
}
