import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// Bad input gets upstream's message and exit status, and the trees are
/// left as they were.
@Suite("Error paths", .serialized)
struct ErrorPathTests {
    let sandbox = DKMSSandbox.withFakeKernel()
    let kernel = DKMSSandbox.fakeKernel
    let arch = DKMSSandbox.arch

    /// Every file and link below the trees, to prove nothing changed.
    func snapshot() -> [String] {
        [sandbox.dkmsTree, sandbox.sourceTree, sandbox.installTree].flatMap { root in
            Files.walk(root).filter { $0 != ".lock" }.map { root + "/" + $0 }
        }
    }

    @Test func addWithoutSourceDirectory() {
        let before = snapshot()
        let r = sandbox.dkms(["add", "-m", "nope", "-v", "1.0"])
        #expect(r.status == 2)
        #expect(r.stdout == "")
        #expect(r.stderr == "\nError! Could not find module source directory.\nDirectory: \(sandbox.sourceTree)/nope-1.0 does not exist.\n")
        #expect(snapshot() == before)
    }

    @Test func addingTwiceIsRefused() {
        let source = sandbox.writeModule(name: "twice", version: "1.0")
        #expect(sandbox.dkms(["add", source]).status == 0)
        let before = snapshot()
        let r = sandbox.dkms(["add", source])
        #expect(r.status == 3)
        #expect(r.stderr == "\nError! DKMS tree already contains: twice/1.0\nYou cannot add the same module/version combo more than once.\n")
        #expect(snapshot() == before)
    }

    @Test func pathTraversalInModuleNamesFindsNoSource() {
        let before = snapshot()
        let r = sandbox.dkms(["add", "../../etc/1.0"])
        #expect(r.status == 2)
        #expect(r.stderr == "\nError! Could not find module source directory.\nDirectory: \(sandbox.sourceTree)/..-../etc/1.0 does not exist.\n")
        let built = sandbox.dkms(["build", "-k", kernel, "x/../../y"])
        #expect(built.status == 2)
        #expect(snapshot() == before)
    }

    @Test func garbageConfIsABadConfFile() {
        let dir = sandbox.packages + "/garbage"
        Files.write("PACKAGE_NAME=garbage\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=g.ko\n)(*&^ not bash\n", to: dir + "/dkms.conf")
        let before = snapshot()
        let r = sandbox.dkms(["add", dir])
        #expect(r.status == 8)
        #expect(r.stderr.hasSuffix("""
            dkms.conf: Error! 'BUILT_MODULE_NAME' directive ends in '.o' or '.ko' in record #0.
            dkms.conf: Error! 'DEST_MODULE_NAME' directive ends in '.o' or '.ko' in record #0.
            dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #0.

            Error! Bad conf file.
            File: \(dir)/dkms.conf does not represent a valid dkms.conf file.

            """))
        #expect(r.stderr.contains("syntax error"))
        #expect(snapshot() == before)
    }

    @Test func emptyConfHasNoNameOrVersion() {
        let dir = sandbox.packages + "/empty"
        Files.write("", to: dir + "/dkms.conf")
        let r = sandbox.dkms(["add", dir])
        #expect(r.status == 8)
        #expect(r.stderr == """
            dkms.conf: Error! No 'PACKAGE_NAME' directive specified.
            dkms.conf: Error! No 'PACKAGE_VERSION' directive specified.

            Error! Bad conf file.
            File: \(dir)/dkms.conf does not represent a valid dkms.conf file.

            """)
    }

    @Test func directoryWithoutConfIsNotASourceTree() {
        // Not a source tree, so the word is taken as module/version; an
        // absolute path leaves the module name empty.
        Files.makeDirectory(sandbox.packages + "/noconf-1.0")
        let r = sandbox.dkms(["add", sandbox.packages + "/noconf-1.0"])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("\nError! Arguments <module> and <module-version> are not specified.\n"))
    }

    @Test func unknownKernelHasNoHeaders() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "hdr", version: "1.0")])
        let before = snapshot()
        let r = sandbox.dkms(["build", "-k", "6.1.0-99-missing", "hdr/1.0"])
        #expect(r.status == 21)
        #expect(r.stdout == "")
        let i = sandbox.installTree
        #expect(r.stderr == """

            Error! Your kernel headers for kernel 6.1.0-99-missing cannot be found at \(i)/6.1.0-99-missing/build or \(i)/6.1.0-99-missing/source.
            Please install your distribution's kernel headers package matching 6.1.0-99-missing, or use the --kernelsourcedir option to tell DKMS where it's located.

            """)
        #expect(snapshot() == before)
    }

    @Test func actionsOnAModuleThatIsNotAdded() {
        for action in ["remove", "unbuild", "uninstall"] {
            let r = sandbox.dkms([action, "-k", kernel, "ghost/1.0"])
            #expect(r.status == 3)
            #expect(r.stderr == "\nError! The module/version combo: ghost/1.0 is not located in the DKMS tree.\n")
        }
    }

    @Test func missingModuleArguments() {
        let r = sandbox.dkms(["remove", "-k", kernel])
        #expect(r.status == 1)
        #expect(r.stderr == """

            Error! Arguments <module> and <module-version> are not specified.
            Usage: remove <module>/<module-version> or
                   remove -m <module>/<module-version> or
                   remove -m <module> -v <module-version>

            """)
    }

    @Test func allIsRefusedWhereUpstreamRefusesIt() {
        var r = sandbox.dkms(["build", "--all", "x/1.0"])
        #expect(r.status == 5)
        #expect(r.stderr == "\nError! The action build does not support the --all parameter.\n")
        r = sandbox.dkms(["remove", "--all", "-k", kernel, "x/1.0"])
        #expect(r.status == 2)
        #expect(r.stderr == "\nError! You cannot specify a kernel version and also specify\n--all on the command line.\n")
        r = sandbox.dkms(["remove", "--all", "-a", arch, "x/1.0"])
        #expect(r.status == 3)
        r = sandbox.dkms(["mktarball", "--binaries-only", "--source-only", "x/1.0"])
        #expect(r.status == 8)
        r = sandbox.dkms(["build", "-k", "a", "-k", "b", "-a", "x", "-a", "y", "-a", "z", "m/1"])
        #expect(r.status == 1)
    }

    @Test func kernelHooksNeedExactlyOneKernel() {
        let r = sandbox.dkms(["kernel_prerm"])
        #expect(r.status == 4)
        #expect(r.stderr == "\nError! The action kernel_prerm requires exactly one kernel version parameter on the command line.\n")
    }

    @Test func brokenModulesAreReportedAndRefused() {
        let source = sandbox.writeModule(name: "brk", version: "1.0")
        _ = sandbox.dkms(["add", source])
        FileSystem.removeTree(sandbox.sourceTree + "/brk-1.0")
        var r = sandbox.dkms(["status"])
        #expect(r.status == 0)
        #expect(r.stdout == "brk/1.0: broken\n")
        #expect(r.stderr == "\nError! brk/1.0: Missing the module source directory or the symbolic link pointing to it.\nManual intervention is required!\n")
        r = sandbox.dkms(["build", "-k", kernel, "brk/1.0"])
        #expect(r.status == 4)
        #expect(r.stderr == "\nError! brk/1.0 is broken!\nMissing the source directory or the symbolic link pointing to it.\nManual intervention is required!\n")
        // docs/status-json.md: in --json a broken entry is in the document only
        // (state and reason), with no Error! block and exit 0.
        r = sandbox.dkms(["status", "--json"])
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r)")
        let document = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let entry = (document?["entries"] as? [[String: Any]])?.first { $0["module"] as? String == "brk" }
        #expect(entry?["state"] as? String == "broken", "\(r.stdout)")
        #expect((entry?["broken_reason"] as? String)?.isEmpty == false, "\(r.stdout)")
    }

    @Test func failingBuildKeepsItsLog() {
        let source = sandbox.writeModule(name: "fails", version: "1.0")
        Files.write("this is not C\n", to: source + "/fails.c")
        _ = sandbox.dkms(["add", source])
        let r = sandbox.dkms(["build", "-k", kernel, "fails/1.0"])
        let d = sandbox.dkmsTree
        #expect(r.status == 10)
        #expect(r.stdout == """
            Module signing is disabled by policy, modules won't be signed

            Building module(s)...(bad exit status: 2)
            Failed command:
            make -j1 KERNELRELEASE=\(kernel) -C \(sandbox.installTree)/\(kernel)/build M=\(d)/fails/1.0/build

            """)
        #expect(r.stderr == "\nError! Bad return status for module build on kernel: \(kernel) (\(arch))\nConsult \(d)/fails/1.0/build/make.log for more information.\n")
        let log = Files.read("\(d)/fails/1.0/build/make.log") ?? ""
        #expect(log.contains("# exit code: 2\n"))
        #expect(sandbox.dkms(["status"]).stdout == "fails/1.0: added\n")
    }

    @Test func unknownOptionAndNoAction() {
        var r = sandbox.dkms(["status", "-j4"])
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("\nError! Unknown option: -j4\n"))
        r = sandbox.dkms([])
        #expect(r.status == 0)
        #expect(r.stderr.hasPrefix("\nError! Unknown action specified: \"\"\n"))
        #expect(r.stdout.hasPrefix("Usage: \(DKMSBinary.path) [action] [options]\n"))
    }
}
