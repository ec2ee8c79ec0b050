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
        // The read-back collapses blank runs into one space.
        "PACKAGE_VERSION=\"1  0\"\nPACKAGE_NAME=' a\tb '\nMAKE[10]='   '\n",
        "PACKAGE_NAME=a\r\r\nBUILT_MODULE_NAME[0]=x\ry\r\n",
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
        "BUILT_MODULE_NAME[010]=x\n",
        "BUILT_MODULE_NAME[08]=x\n",
        "PACKAGE_VERSION=1 \r\n",
        "PACKAGE_NAME='a*'\n",
        "PACKAGE_NAME=\"@(a)\"\n",
        "PACKAGE_NAME='[x]'\n",
    ]

    /// Parsed fine, but the fast path must still leave them to bash.
    static let refusedByTheFastPath: [[UInt8]] = [
        Array("IFS=.\nPACKAGE_VERSION=1.0\n".utf8),
        Array("PATH=\nPACKAGE_NAME=a\n".utf8),
        Array("PACKAGE_NAME=a".utf8) + [0xFF] + Array("\n".utf8),
        Array("PACKAGE_NAME=a".utf8) + [0] + Array("\n".utf8),
    ]

    @Test("The fast path is not taken for these", arguments: refusedByTheFastPath)
    func fastPathRefuses(bytes: [UInt8]) {
        let dir = TemporaryDirectory()
        FileSystem.writeBytes(bytes, to: dir.child("dkms.conf"))
        let request = ShellSourcer.Request(
            globals: [], environment: ["PATH": "/usr/bin:/bin"], files: [dir.child("dkms.conf")],
            names: ModuleConfig.variableNames, unsetFirst: true)
        #expect(ShellSourcer(runner: SubprocessRunner()).evaluatePlain(request, console: nil) == nil)
    }

    /// The property behind the fast path: for any file it accepts, it gives
    /// what bash gives. Files are drawn from pieces that sit on the edges
    /// (indices with zeros, blanks, carriage returns, quotes, globs).
    @Test func randomFilesTheFastPathAcceptsReadAsBashReadsThem() async throws {
        var seed: UInt64 = 0x5EED
        func next(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(n))
        }
        let names = ["PACKAGE_NAME", "PACKAGE_VERSION", "BUILT_MODULE_NAME", "STRIP", "MAKE", "IFS", "OTHER"]
        let indices = ["", "[0]", "[1]", "[00]", "[010]", "[08]", "[7]", "[12345678]", "[ 1]"]
        let values = ["a", "1.0", "'a  b'", "\" x \"", "'\t'", "x\r", "x \r", "\"a\"'b'c", "''", "\"*\"", "a#b",
                      "'a'#c", "x # c", "\"$x\"", "é", "'~'", "-n", "\"a\tb\"", "\"\r\""]
        let dir = TemporaryDirectory()
        let sourcer = ShellSourcer(runner: SubprocessRunner())
        var compared = 0
        for round in 0..<1000 {
            var text = ""
            for _ in 0..<(1 + next(4)) {
                text += [" ", "", "\t", ""][next(4)] + names[next(names.count)] + indices[next(indices.count)] + "="
                text += values[next(values.count)] + ["\n", "\r\n", "\n\n", " \n"][next(4)]
            }
            let file = dir.child("c\(round).conf")
            Files.write(text, to: file)
            let request = ShellSourcer.Request(
                globals: [], environment: ["PATH": "/usr/bin:/bin"], files: [file],
                names: ModuleConfig.variableNames, unsetFirst: true)
            guard let plain = sourcer.evaluatePlain(request, console: nil) else { continue }
            compared += 1
            let bash = await sourcer.evaluateWithBash(request)
            #expect(plain == bash, "\(text.debugDescription)")
        }
        #expect(compared > 60)
    }

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
