import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// Whether the binary under test is ours (some checks go beyond upstream).
let testingOurBinary = ProcessInfo.processInfo.environment["DKMS_BINARY"].map { $0.isEmpty } ?? true

/// mktarball and ldtarball round trips, and tarballs that try to escape.
@Suite("Tarballs", .serialized)
struct TarballTests {
    let sandbox = DKMSSandbox.withFakeKernel()
    let kernel = DKMSSandbox.fakeKernel
    let arch = DKMSSandbox.arch

    @Test func roundTripWithSourceAndBinaries() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "tar", version: "1.0")])
        _ = sandbox.dkms(["build", "-k", kernel, "tar/1.0"])
        let d = sandbox.dkmsTree
        var r = sandbox.dkmsMerged(["mktarball", "-k", kernel, "tar/1.0"])
        #expect(r.status == 0)
        let name = "tar-1.0-kernel\(kernel)-\(arch).dkms.tar.gz"
        #expect(r.combined == """
            Marking modules for \(kernel) (\(arch)) for archiving...

            Marking \(d)/tar/1.0/source for archiving...

            Tarball location: \(d)/tar/1.0/tarball//\(name)

            """)
        let tarball = "\(d)/tar/1.0/tarball/\(name)"
        #expect(Files.exists(tarball))
        let saved = sandbox.root.child("saved.tar.gz")
        _ = CommandRunner.run("/bin/cp", [tarball, saved], environment: sandbox.environment)

        _ = sandbox.dkms(["remove", "--all", "tar/1.0"])
        _ = CommandRunner.run("/bin/rm", ["-rf", "\(sandbox.sourceTree)/tar-1.0"], environment: sandbox.environment)
        r = sandbox.dkmsMerged(["ldtarball", saved])
        #expect(r.status == 0, "\(r)")
        #expect(r.combined == """

            Loading tarball for tar/1.0
            Loading \(d)/tar/1.0/\(kernel)/\(arch)...
            Creating symlink \(d)/tar/1.0/source -> \(sandbox.sourceTree)/tar-1.0

            """)
        #expect(sandbox.dkms(["status"]).stdout == "tar/1.0, \(kernel), \(arch): built\n")
        r = sandbox.dkmsMerged(["ldtarball", saved])
        #expect(r.status == 8)
        #expect(r.combined == "\nError! tar/1.0 is already added!\nAborting.\n")
    }

    @Test func mktarballNeedsABuiltModule() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "unbuilt", version: "1.0")])
        let r = sandbox.dkms(["mktarball", "-k", kernel, "unbuilt/1.0"])
        #expect(r.status == 6)
        #expect(r.stderr == "\nError! No modules built for \(kernel) (\(arch)).\nModules must already be in the built state before using mktarball.\n")
    }

    @Test func sourceOnlyTarballAtAChosenPath() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "src", version: "2.0")])
        let target = sandbox.root.child("out/src.tar.xz")
        let r = sandbox.dkms(["mktarball", "src/2.0", "--source-only", "--archive", target])
        #expect(r.status == 0)
        #expect(r.stdout == "\nMarking \(sandbox.dkmsTree)/src/2.0/source for archiving...\n\nTarball location: \(sandbox.root.child("out"))/src.tar.xz\n")
        #expect(Files.exists(target))
    }

    @Test func missingTarball() {
        let r = sandbox.dkms(["ldtarball", "--archive", "/nonexistent/x.tar.gz"])
        #expect(r.status == 2)
        #expect(r.stderr == "\nError! /nonexistent/x.tar.gz does not exist.\n")
    }

    @Test func tarballWithoutConf() {
        Files.write("nothing", to: sandbox.root.child("junk/readme"))
        let tarball = sandbox.root.child("junk.tar.gz")
        _ = CommandRunner.run("/bin/tar", ["-C", sandbox.root.child("junk"), "-czf", tarball, "."], environment: sandbox.environment)
        let r = sandbox.dkms(["ldtarball", tarball])
        #expect(r.status == 3)
        #expect(r.stderr == "\nError! Tarball does not appear to be a correctly formed DKMS archive. No dkms.conf found within it.\n")
    }

    /// Builds a tarball with python's tarfile, which can write members GNU
    /// tar would not.
    func hostileTarball(_ member: String) -> String {
        let path = sandbox.root.child("hostile.tar")
        let script = """
            import io, tarfile, sys
            with tarfile.open(sys.argv[1], "w") as t:
                def add(info, data=b""):
                    info.size = len(data); t.addfile(info, io.BytesIO(data))
                conf = b'PACKAGE_NAME=evil\\nPACKAGE_VERSION=1\\nDEST_MODULE_LOCATION[0]=/extra\\n'
                add(tarfile.TarInfo("dkms_source_tree/dkms.conf"), conf)
                add(tarfile.TarInfo("dkms_main_tree/6.1/x86_64/module/a.ko"), b"x")
                kind = sys.argv[2]
                if kind == "absolute": add(tarfile.TarInfo("/tmp/evil-absolute"), b"x")
                if kind == "dotdot": add(tarfile.TarInfo("dkms_source_tree/../../evil"), b"x")
                if kind == "symlink":
                    i = tarfile.TarInfo("dkms_source_tree/link"); i.type = tarfile.SYMTYPE; i.linkname = "../../../etc"; add(i)
                if kind == "device":
                    i = tarfile.TarInfo("dkms_source_tree/null"); i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 3; add(i)
            """
        Files.write(script, to: sandbox.root.child("make_tar.py"))
        _ = CommandRunner.run("/usr/bin/python3", [sandbox.root.child("make_tar.py"), path, member], environment: sandbox.environment)
        return path
    }

    @Test("Hostile members are refused before anything is written",
          .enabled(if: testingOurBinary, "checks beyond upstream"),
          arguments: [("absolute", "/tmp/evil-absolute", "lies outside the archive root"),
                      ("dotdot", "dkms_source_tree/../../evil", "lies outside the archive root"),
                      ("symlink", "dkms_source_tree/link", "is a symlink that leaves the archive root"),
                      ("device", "dkms_source_tree/null", "is a device node or special file")])
    func hostileTarballs(kind: String, member: String, reason: String) {
        let tarball = hostileTarball(kind)
        let before = Files.walk(sandbox.root.path).filter { !$0.hasPrefix("hostile") && !$0.hasSuffix("/.lock") }
        let r = sandbox.dkms(["ldtarball", tarball])
        #expect(r.status == 7)
        #expect(r.stderr == "\nError! Refusing to load \(tarball): member '\(member)' \(reason).\n\(tarball) is not a valid DKMS tarball.\n")
        #expect(Files.walk(sandbox.root.path).filter { !$0.hasPrefix("hostile") && !$0.hasSuffix("/.lock") } == before)
        #expect(!Files.exists("/tmp/evil-absolute"))
    }
}
