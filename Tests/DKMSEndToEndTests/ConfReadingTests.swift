import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// dkms.conf read as upstream's bash reads it, and the inputs upstream
/// mishandles refused before anything is touched.
@Suite("dkms.conf as bash reads it", .serialized)
struct ConfReadingTests {
    let sandbox = DKMSSandbox.withFakeKernel()
    let kernel = DKMSSandbox.fakeKernel

    /// Everything in the sandbox but the lock file.
    func snapshot() -> [String] {
        Files.walk(sandbox.root.path).filter { !$0.hasSuffix("/.lock") }
    }

    @Test("A version of '.' in dkms.conf is refused at add, with nothing written")
    func dotVersionInConf() {
        let source = sandbox.writeModule(name: "dot", version: "1", conf: """
            PACKAGE_NAME=dot
            PACKAGE_VERSION=.
            BUILT_MODULE_NAME[0]=dot
            DEST_MODULE_LOCATION[0]=/extra

            """)
        let before = snapshot()
        let r = sandbox.dkms(["add", source])
        #expect(r.status == 8)
        #expect(r.stderr.hasPrefix("dkms.conf: Error! 'PACKAGE_VERSION' may not be '.' or '..'.\n"))
        #expect(snapshot() == before)
    }

    @Test("remove NAME/. --all is refused before the tree is touched, in a tree where upstream added version '.'",
          .enabled(if: testingOurBinary, "checks beyond upstream"),
          arguments: [(".", "dot/source"), ("..", "source")])
    func dotVersionOnTheCommandLine(version: String, link: String) {
        let source = sandbox.writeModule(name: "dot", version: "1")
        _ = sandbox.dkms(["add", source])
        // What upstream's add of PACKAGE_VERSION=. (or ..) leaves:
        // $dkms_tree/dot/./source (or dot/../source) pointing at the source.
        _ = CommandRunner.run("/bin/ln", ["-s", source, "\(sandbox.dkmsTree)/\(link)"], environment: sandbox.environment)
        let before = snapshot()
        let r = sandbox.dkms(["remove", "dot/\(version)", "--all"])
        #expect(r.status == 1)
        #expect(r.stderr == "\nError! Invalid module version '\(version)': may not be '.' or '..'.\n")
        #expect(snapshot() == before)
        #expect(Files.exists("\(sandbox.dkmsTree)/dot/1/source/dkms.conf"))
    }

    @Test("A version with '/' in dkms.conf is refused at add")
    func slashVersionInConf() {
        let source = sandbox.writeModule(name: "sl", version: "1", conf: """
            PACKAGE_NAME=sl
            PACKAGE_VERSION=1/../../x
            BUILT_MODULE_NAME[0]=sl
            DEST_MODULE_LOCATION[0]=/extra

            """)
        let before = snapshot()
        let r = sandbox.dkms(["add", source])
        #expect(r.status == 8)
        #expect(r.stderr.hasPrefix("dkms.conf: Error! 'PACKAGE_VERSION' may not contain '/'.\n"))
        #expect(snapshot() == before)
    }

    @Test("A huge record index is refused, not allocated")
    func hugeRecordIndex() {
        let source = sandbox.writeModule(name: "huge", version: "1", conf: """
            PACKAGE_NAME=huge
            PACKAGE_VERSION=1
            BUILT_MODULE_NAME[99999999999]=x
            DEST_MODULE_LOCATION[0]=/extra

            """)
        let r = sandbox.dkms(["add", source])
        #expect(r.status == 8)
        #expect(r.stderr == """
            dkms.conf: Error! Index 99999999999 of 'BUILT_MODULE_NAME' is above the 65535 that dkms supports.

            Error! Bad conf file.
            File: \(source)/dkms.conf does not represent a valid dkms.conf file.

            """)
    }

    @Test("An empty --kernelsourcedir is given, as upstream takes it: no headers at /include, exit 21")
    func emptyKernelSourceDir() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "ksd", version: "1")])
        let r = sandbox.dkms(["build", "-k", kernel, "ksd/1", "--kernelsourcedir", ""])
        #expect(r.status == 21)
        #expect(r.stderr.contains("Error! Your kernel headers for kernel \(kernel) cannot be found"))
        #expect(!Files.exists("\(sandbox.dkmsTree)/ksd/1/\(kernel)"))
    }

    @Test("Octal indices, blanks collapsed by the read-back, set -e and local behave as in upstream")
    func bashSemantics() {
        let source = sandbox.writeModule(name: "sem", version: "1", modules: ["sem"], conf: """
            local L=x
            set -e
            false
            PACKAGE_NAME="sem"
            PACKAGE_VERSION="1  0"
            BUILT_MODULE_NAME[010]=sem
            DEST_MODULE_LOCATION[8]=/extra

            """)
        let r = sandbox.dkms(["add", source])
        // [010] is record 8: records 0 to 7 are missing; the name was read
        // (set -e was ignored, local worked).
        #expect(r.status == 8, "\(r)")
        #expect(r.stderr.contains("No 'BUILT_MODULE_NAME' directive specified for record #7."))
        #expect(!r.stderr.contains("record #8"))
        #expect(!r.stderr.contains("PACKAGE_NAME"))
        #expect(!r.stderr.contains("local:"))
    }

    @Test("A CRLF file with a blank before the CR: the assignment is a prefix of the command $'\\r', as in bash")
    func blankBeforeCarriageReturn() {
        let source = sandbox.writeModule(name: "crlf", version: "1", conf:
            "PACKAGE_NAME=crlf\r\nPACKAGE_VERSION=1 \r\nBUILT_MODULE_NAME[0]=crlf\r\nDEST_MODULE_LOCATION[0]=/extra\r\n")
        let r = sandbox.dkms(["add", source])
        #expect(r.status == 8, "\(r)")
        #expect(r.stderr.hasPrefix("\(source)/dkms.conf: line 2: $'\\r': command not found\ndkms.conf: Error! No 'PACKAGE_VERSION' directive specified.\n"))
    }
}
