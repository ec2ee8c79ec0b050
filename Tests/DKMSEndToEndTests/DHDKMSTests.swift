import DKMSTestSupport
import Foundation
import Testing

/// dh_dkms on a small source package, with the results Debian's dh_dkms
/// (dh-dkms 3.0.10) produces for the same input: the conf installed under
/// usr/src/NAME-VERSION, marked postinst/prerm snippets, misc:Depends.
@Suite("dh_dkms", .enabled(if: testingOurBinary, "our dh_dkms only"))
struct DHDKMSTests {
    let directory = TemporaryDirectory(prefix: "dh-dkms")

    init() {
        Files.write("""
            Source: hello-dkms
            Maintainer: Test <test@example.com>
            Build-Depends: debhelper-compat (= 13)

            Package: hello-dkms
            Architecture: all
            Depends: ${misc:Depends}
            Description: test module
             test

            Package: hello-tools
            Architecture: any
            Description: other
             other

            """, to: directory.child("debian/control"))
        Files.write("hello-dkms (1.2-3) unstable; urgency=medium\n\n  * Test.\n\n -- Test <test@example.com>  Mon, 01 Jan 2024 00:00:00 +0000\n",
                    to: directory.child("debian/changelog"))
    }

    func run(_ arguments: [String]) -> CommandResult {
        CommandRunner.run(DHDKMSBinary.path, arguments, environment: ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin"],
                          workingDirectory: directory.path)
    }

    @Test func versionPlaceholderSnippetsAndDependency() {
        Files.write("PACKAGE_NAME=\"hello-dkms\"\nPACKAGE_VERSION=\"#MODULE_VERSION#\"\nDEST_MODULE_LOCATION[0]=/extra\n",
                    to: directory.child("debian/hello-dkms.dkms"))
        let r = run(["-V"])
        #expect(r.status == 0, "\(r)")
        let conf = Files.read(directory.child("debian/hello-dkms/usr/src/hello-dkms-1.2/dkms.conf"))
        #expect(conf == "PACKAGE_NAME=\"hello-dkms\"\nPACKAGE_VERSION=\"1.2\"\nDEST_MODULE_LOCATION[0]=/extra\n")
        #expect(Files.read(directory.child("debian/hello-dkms.substvars")) == "misc:Depends=dkms (>= 2.1.0.0)\n")
        let postinst = Files.read(directory.child("debian/hello-dkms.postinst.debhelper")) ?? ""
        #expect(postinst.hasPrefix("# Automatically added by dh_dkms/3.4.3\nDKMS_NAME=hello-dkms\n"))
        #expect(postinst.contains("DKMS_VERSION=1.2\n"))
        #expect(postinst.contains("/usr/lib/dkms/common.postinst"))
        #expect(postinst.hasSuffix("# End automatically added section\n"))
        let prerm = Files.read(directory.child("debian/hello-dkms.prerm.debhelper")) ?? ""
        #expect(prerm.contains("dkms remove -m \"$DKMS_NAME\" -v \"$DKMS_VERSION\" --all"))
        #expect(!Files.exists(directory.child("debian/hello-tools")))
    }

    @Test func snippetsRunAsShell() {
        Files.write("PACKAGE_NAME=\"hello-dkms\"\nPACKAGE_VERSION=\"1.0\"\n", to: directory.child("debian/hello-dkms.dkms"))
        _ = run([])
        for script in ["postinst", "prerm"] {
            let check = CommandRunner.run("/bin/sh", ["-n", directory.child("debian/hello-dkms.\(script).debhelper")], environment: [:])
            #expect(check.status == 0, "\(script): \(check)")
        }
    }

    @Test func aFileListingTheUpstreamConf() {
        Files.write("PACKAGE_NAME=hello-dkms\nPACKAGE_VERSION=2.0\nBUILD_EXCLUSIVE_CONFIG=\"CONFIG_USB\"\n", to: directory.child("src/dkms.conf"))
        Files.write("src/dkms.conf\n", to: directory.child("debian/hello-dkms.dkms"))
        let r = run(["-phello-dkms"])
        #expect(r.status == 0, "\(r)")
        #expect(Files.exists(directory.child("debian/hello-dkms/usr/src/hello-dkms-2.0/dkms.conf")))
        #expect(Files.read(directory.child("debian/hello-dkms.substvars")) == "misc:Depends=dkms (>= 3.0.3-4~)\n")
    }

    @Test func nothingToDoWithoutAConf() {
        let r = run([])
        #expect(r.status == 0)
        #expect(Files.list(directory.child("debian")) == ["changelog", "control"])
    }

    @Test func errorsAreReportedTheDebhelperWay() {
        Files.write("BUILT_MODULE_NAME=x\n", to: directory.child("conf/dkms.conf"))
        var r = run(["--", "conf/dkms.conf"])
        #expect(r.status == 25)
        #expect(r.stderr == "dh_dkms: error: could not determine package name\n")
        r = run(["--bogus"])
        #expect(r.status == 25)
        #expect(r.stderr == "Unknown option: bogus\ndh_dkms: error: unknown option or error during option parsing; aborting\n")
    }
}
