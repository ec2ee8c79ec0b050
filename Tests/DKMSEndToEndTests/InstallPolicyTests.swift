import DKMSCore
import Foundation
import DKMSTestSupport
import Testing

/// Installing over modules the kernel already has: originals are archived
/// and restored, older or identical versions are not replaced.
@Suite("Install policy", .serialized)
struct InstallPolicyTests {
    let sandbox = DKMSSandbox.withFakeKernel()
    let kernel = DKMSSandbox.fakeKernel
    let arch = DKMSSandbox.arch

    /// Puts a fake module of `version` into the kernel's own tree.
    func kernelModule(_ name: String, version: String, tag: String? = nil) -> String {
        let dir = "\(sandbox.installTree)/\(kernel)/kernel/drivers"
        Files.write(DKMSSandbox.fakeModuleSource(version: version, tag: tag ?? name), to: "\(dir)/\(name).c")
        _ = CommandRunner.run("/usr/bin/cc", ["-c", "\(dir)/\(name).c", "-o", "\(dir)/\(name).ko"], environment: sandbox.environment)
        Files.write("", to: "\(dir)/\(name).c")
        return "\(dir)/\(name).ko"
    }

    /// The `.origin` record says where an archived original goes back. It is
    /// flushed before the install commits (a power cut must not leave it
    /// empty: tests/powercut); if it cannot be written, the install fails and
    /// rolls back, the original in its place.
    @Test func unwritableOriginRecordFailsTheInstallAndKeepsTheOriginal() {
        let original = kernelModule("orig", version: "0.9")
        let before = Files.read(original)
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "orig", version: "1.0")])
        _ = sandbox.dkms(["build", "-k", kernel, "orig/1.0"])
        Files.makeDirectory("\(sandbox.dkmsTree)/orig/original_module/\(kernel)/\(arch)/orig.ko.origin")
        let r = sandbox.dkmsMerged(["install", "-k", kernel, "orig/1.0"])
        #expect(r.status == 6)
        #expect(r.combined.contains("Error! Archiving the original module \(original) failed."))
        #expect(Files.read(original) == before)
        #expect(!Files.exists("\(sandbox.installTree)/\(kernel)/updates/dkms/orig.ko"))
        #expect(sandbox.dkms(["status"]).stdout == "orig/1.0, \(kernel), \(arch): built\n")
    }

    /// The kernel's own modules on a read-only mount while updates/ is
    /// writable (a bind mount here, so that moving the original into the
    /// dkms tree crosses mounts and is a copy and a delete, the delete
    /// refused): the install fails with exit 6, the original stays whole in
    /// its place, no archived copy or record is left, nothing is installed.
    @Test(.enabled(if: geteuid() == 0, "mounts need root"))
    func anOriginalOnAReadOnlyMountIsNeitherLostNorDuplicated() {
        let original = kernelModule("rofs", version: "0.9")
        let before = FileSystem.readBytes(original)
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "rofs", version: "1.0")])
        _ = sandbox.dkms(["build", "-k", kernel, "rofs/1.0"])
        let own = "\(sandbox.installTree)/\(kernel)/kernel"
        let r = CommandRunner.run("/usr/bin/unshare", ["-m", "--propagation", "private", "/bin/sh", "-c",
                                                       "mount --bind \(own) \(own) && mount -o remount,bind,ro \(own) && exec \"$0\" \"$@\"",
                                                       DKMSBinary.path, "install", "-k", kernel, "rofs/1.0"] + sandbox.treeOptions,
                                  environment: sandbox.environment, workingDirectory: sandbox.root.path)
        #expect(r.status == 6, "\(r)")
        #expect(r.stderr == "\nError! Archiving the original module \(original) failed.\n", "\(r)")
        #expect(FileSystem.readBytes(original) == before, "the original is in its place, whole")
        #expect(!Files.exists("\(sandbox.dkmsTree)/rofs/original_module/\(kernel)"), "no archived copy: \(Files.walk(sandbox.dkmsTree + "/rofs"))")
        #expect(!Files.exists("\(sandbox.installTree)/\(kernel)/updates/dkms/rofs.ko"))
        #expect(sandbox.dkms(["status"]).stdout == "rofs/1.0, \(kernel), \(arch): built\n")
        #expect(!Files.exists(sandbox.dkmsTree + "/.journal") || Files.list(sandbox.dkmsTree + "/.journal").isEmpty)
        // Writable again, the same install archives it and succeeds.
        #expect(sandbox.dkms(["install", "-k", kernel, "rofs/1.0"]).status == 0)
        #expect(sandbox.dkms(["status"]).stdout == "rofs/1.0, \(kernel), \(arch): installed (Original modules exist)\n")
    }

    @Test func olderKernelModuleIsArchivedAndRestored() {
        let original = kernelModule("orig", version: "0.9")
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "orig", version: "1.0")])
        _ = sandbox.dkms(["build", "-k", kernel, "orig/1.0"])
        let i = sandbox.installTree
        var r = sandbox.dkmsMerged(["install", "-k", kernel, "orig/1.0"])
        #expect(r.status == 0)
        #expect(r.combined == """
            Found pre-existing \(original), archiving for uninstallation
            Installing \(i)/\(kernel)/updates/dkms/orig.ko
            Running depmod... done.

            """)
        #expect(!Files.exists(original))
        #expect(sandbox.dkms(["status"]).stdout == "orig/1.0, \(kernel), \(arch): installed (Original modules exist)\n")
        r = sandbox.dkmsMerged(["uninstall", "-k", kernel, "orig/1.0"])
        #expect(r.status == 0)
        #expect(r.combined == """
            Module orig/1.0 for kernel \(kernel) (\(arch)):
            Before uninstall, this module version was ACTIVE on this kernel.
            Deleting \(i)/\(kernel)/updates/dkms/orig.ko
            Restoring archived original module \(original)
            Running depmod... done.

            """)
        #expect(Files.exists(original))
        #expect(!Files.exists("\(sandbox.dkmsTree)/orig/original_module"))
    }

    @Test func newerKernelModuleIsNotReplaced() {
        let original = kernelModule("newer", version: "2.0")
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "newer", version: "1.0")])
        _ = sandbox.dkms(["build", "-k", kernel, "newer/1.0"])
        let r = sandbox.dkmsMerged(["install", "-k", kernel, "newer/1.0"])
        #expect(r.status == 6)
        #expect(r.combined == """

            Error! Module version 1.0 for newer.ko
            is not newer than what is already found in kernel \(kernel) (2.0).
            You may override by specifying --force.

            Error! Installation aborted.

            """)
        #expect(Files.exists(original))
        #expect(sandbox.dkms(["status"]).stdout == "newer/1.0, \(kernel), \(arch): built\n")
        let forced = sandbox.dkms(["install", "-k", kernel, "newer/1.0", "--force"])
        #expect(forced.status == 0)
        #expect(forced.stdout.contains("Found pre-existing \(original), archiving for uninstallation\n"))
    }

    @Test func identicalKernelModuleIsSkipped() {
        let original = kernelModule("same", version: "1.0", tag: "same")
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "same", version: "1.0")])
        _ = sandbox.dkms(["build", "-k", kernel, "same/1.0"])
        let r = sandbox.dkmsMerged(["install", "-k", kernel, "same/1.0"])
        #expect(r.status == 6)
        #expect(r.combined == """
            Module \(original) already installed at version 1.0, override by specifying --force

            Error! Installation aborted.

            """)
        let overridden = sandbox.dkms(["install", "-k", kernel, "same/1.0", "--force-version-override"])
        #expect(overridden.status == 0)
    }

    @Test func directivesOverrideTheConf() {
        let r = sandbox.dkmsMerged(["add", sandbox.writeModule(name: "direct", version: "1.0"), "--directive", "AUTOINSTALL=no"])
        #expect(r.status == 0)
        // Read once to learn the name from the source tree, once to add it.
        #expect(r.combined == """
            DIRECTIVE: AUTOINSTALL="no"
            DIRECTIVE: AUTOINSTALL="no"
            Creating symlink \(sandbox.dkmsTree)/direct/1.0/source -> \(sandbox.sourceTree)/direct-1.0

            """)
    }

    @Test func deprecatedDirectivesWarnOnStrictReads() {
        let source = sandbox.writeModule(name: "old", version: "1.0", conf: """
            PACKAGE_NAME=old
            PACKAGE_VERSION=1.0
            DEST_MODULE_LOCATION[0]=/extra
            REMAKE_INITRD=yes
            CLEAN="make clean"
            """)
        let r = sandbox.dkmsMerged(["add", source])
        #expect(r.status == 0)
        #expect(r.combined == """
            Deprecated feature: CLEAN (\(sandbox.sourceTree)/old-1.0/dkms.conf)
            Deprecated feature: REMAKE_INITRD (\(sandbox.sourceTree)/old-1.0/dkms.conf)
            Creating symlink \(sandbox.dkmsTree)/old/1.0/source -> \(sandbox.sourceTree)/old-1.0

            """)
    }
}
