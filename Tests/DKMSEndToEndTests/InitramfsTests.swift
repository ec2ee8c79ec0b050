import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// A transaction that installs or removes a module the initramfs needs
/// regenerates that kernel's initramfs exactly once at its end; unrelated
/// modules and kernels without an initramfs regenerate nothing. Stand-ins
/// for lsinitramfs and update-initramfs on PATH record what dkms asks.
@Suite("Initramfs regeneration", .serialized)
struct InitramfsTests {
    let kernel = DKMSSandbox.fakeKernel
    let sandbox: DKMSSandbox
    var calls: String { sandbox.root.child("update-initramfs.calls") }

    init() {
        sandbox = DKMSSandbox.withFakeKernel()
        let bin = sandbox.root.child("bin")
        let boot = sandbox.root.child("boot")
        Files.makeDirectory(boot)
        Files.makeDirectory(sandbox.root.child("initramfs-tools"))
        Files.write("image", to: "\(boot)/initrd.img-\(kernel)")
        // The initramfs already holds bootmod (an older build of it).
        Files.write("""
            #!/bin/sh
            echo usr/lib/modules/\(kernel)/kernel/drivers/ata/libata.ko
            echo usr/lib/modules/\(kernel)/updates/dkms/bootmod.ko.xz
            """, to: "\(bin)/lsinitramfs", executable: true)
        Files.write("#!/bin/sh\necho \"$*\" >>'\(calls)'\necho update-initramfs: Generating /boot/initrd.img-$3\n",
                    to: "\(bin)/update-initramfs", executable: true)
        sandbox.environment["PATH"] = bin + ":" + (sandbox.environment["PATH"] ?? "/usr/bin:/bin")
        sandbox.environment["SWIFT_DKMS_BOOTDIR"] = boot
        sandbox.environment["SWIFT_DKMS_INITRAMFS_TOOLS_DIR"] = sandbox.root.child("initramfs-tools")
    }

    func recorded() -> [String] {
        (Files.read(calls) ?? "").split(separator: "\n").map(String.init)
    }

    func add(_ name: String, conf extra: String = "") {
        let dir = sandbox.writeModule(name: name, version: "1.0")
        if !extra.isEmpty {
            Files.write((Files.read(dir + "/dkms.conf") ?? "") + extra + "\n", to: dir + "/dkms.conf")
        }
        _ = sandbox.dkms(["add", dir])
    }

    /// What dkms recorded of its regenerations.
    var regenerationLog: String { Files.read(sandbox.dkmsTree + "/.logs/initramfs.log") ?? "" }

    @Test func moduleInTheInitramfsRegeneratesOnce() {
        add("bootmod")
        let r = sandbox.dkms(["install", "-k", kernel, "bootmod/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(recorded() == ["-u -k \(kernel)"])
        // Quiet (upstream's output stays all there is): recorded in its log.
        #expect(!r.stdout.contains("initramfs"))
        #expect(!r.stderr.contains("initramfs"))
        let line = "dkms: regenerating the initramfs of \(kernel) for bootmod/1.0 (in the initramfs of \(kernel)): update-initramfs -u -k \(kernel)\n"
        #expect((Files.read(sandbox.dkmsTree + "/.logs/initramfs.log") ?? "").contains(line))
        // Removing it changes the initramfs again: once more.
        let removed = sandbox.dkms(["remove", "bootmod/1.0", "--all"])
        #expect(removed.status == 0, "\(removed)")
        #expect(recorded().count == 2)
    }

    @Test func unrelatedModuleRegeneratesNothing() {
        add("plainmod")
        let r = sandbox.dkms(["install", "-k", kernel, "plainmod/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(recorded().isEmpty)
        #expect(!r.stderr.contains("initramfs"))
        _ = sandbox.dkms(["remove", "plainmod/1.0", "--all"])
        #expect(recorded().isEmpty)
    }

    @Test func listedInInitramfsToolsModules() {
        Files.write("# modules for the initramfs\nlisted-mod\n", to: sandbox.root.child("initramfs-tools/modules"))
        add("listed_mod")
        let r = sandbox.dkms(["install", "-k", kernel, "listed_mod/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(recorded() == ["-u -k \(kernel)"])
        #expect(regenerationLog.contains("(listed in "))
    }

    @Test func remakeInitrdIsHonoured() {
        add("askmod", conf: "REMAKE_INITRD=yes")
        let r = sandbox.dkms(["install", "-k", kernel, "askmod/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(recorded() == ["-u -k \(kernel)"])
        #expect(regenerationLog.contains("askmod/1.0 (REMAKE_INITRD=yes)"))
        // With --verbose it is said on stderr too.
        _ = sandbox.dkms(["uninstall", "-k", kernel, "askmod/1.0"])
        let verbose = sandbox.dkms(["install", "-k", kernel, "askmod/1.0", "--verbose"])
        #expect(verbose.stderr.contains("dkms: regenerating the initramfs of \(kernel) for askmod/1.0 (REMAKE_INITRD=yes)"))
    }

    @Test func autoinstallOfSeveralRegeneratesOnce() {
        add("bootmod")
        add("askmod", conf: "REMAKE_INITRD=yes")
        add("plainmod")
        let r = sandbox.dkms(["autoinstall", "-k", kernel])
        #expect(r.status == 0, "\(r)")
        #expect(recorded() == ["-u -k \(kernel)"])
        #expect(regenerationLog.contains("for askmod/1.0 (REMAKE_INITRD=yes), bootmod/1.0 (in the initramfs of \(kernel))"))
    }

    @Test func kernelRemovalRegeneratesNothing() {
        add("bootmod")
        _ = sandbox.dkms(["install", "-k", kernel, "bootmod/1.0"])
        #expect(recorded().count == 1)
        // The kernel package is going away with its initramfs.
        let r = sandbox.dkms(["kernel_prerm", "-k", kernel])
        #expect(r.status == 0, "\(r)")
        #expect(sandbox.dkms(["status", "-k", kernel]).stdout == "bootmod/1.0: added\n")
        #expect(recorded().count == 1)
    }

    @Test func headerHookRegenerates() {
        // After a headers package no initramfs hook follows ours.
        add("bootmod")
        sandbox.environment["DKMS_KERNEL_HOOK"] = "header_postinst"
        let r = sandbox.dkms(["autoinstall", "-k", kernel])
        #expect(r.status == 0, "\(r)")
        #expect(recorded() == ["-u -k \(kernel)"])
    }

    @Test func kernelWithoutInitramfsRegeneratesNothing() {
        let other = "6.1.0-2-fake"
        sandbox.addFakeKernel(other)
        add("bootmod", conf: "REMAKE_INITRD=yes")
        let r = sandbox.dkms(["install", "-k", other, "bootmod/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(recorded().isEmpty)
    }
}
