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

    /// A PATH of this machine's programs without `names` (the host's own
    /// update-initramfs and dracut must not be found), after the stubs.
    func pathWithout(_ names: Set<String>) -> String {
        let dir = sandbox.root.child("host-tools")
        Files.makeDirectory(dir)
        for base in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
            for name in Files.list(base) where !names.contains(name) && !Files.exists(dir + "/" + name) {
                _ = FileSystem.symlink(target: base + "/" + name, at: dir + "/" + name)
            }
        }
        return sandbox.root.child("bin") + ":" + dir
    }

    /// A generator that fails is said on stderr even without --verbose,
    /// and the install itself stands (its exit status stays upstream's).
    @Test func aFailingGeneratorIsAlwaysOnStderr() {
        Files.write("#!/bin/sh\necho \"$*\" >>'\(calls)'\necho broken >&2\nexit 3\n",
                    to: sandbox.root.child("bin") + "/update-initramfs", executable: true)
        add("bootmod")
        let r = sandbox.dkms(["install", "-k", kernel, "bootmod/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(recorded() == ["-u -k \(kernel)"])
        #expect(r.stderr.contains("dkms: update-initramfs failed for \(kernel) (status 3); the initramfs may lack the module.\n"), "\(r.stderr)")
        #expect(regenerationLog.contains("broken\n# exit code: 3\n"))
    }

    /// A dracut machine (/boot/initramfs-K.img, lsinitrd, dracut, no
    /// update-initramfs): dracut regenerates that kernel's image once.
    @Test func dracutWhereThatIsWhatTheMachineHas() {
        let bin = sandbox.root.child("bin"), boot = sandbox.root.child("boot")
        FileSystem.removeFile(bin + "/update-initramfs")
        FileSystem.removeFile(bin + "/lsinitramfs")
        FileSystem.removeFile("\(boot)/initrd.img-\(kernel)")
        Files.write("image", to: "\(boot)/initramfs-\(kernel).img")
        Files.write("#!/bin/sh\n[ \"$1 $2\" = \"--kver \(kernel)\" ] || exit 1\necho usr/lib/modules/\(kernel)/updates/dkms/bootmod.ko\n",
                    to: bin + "/lsinitrd", executable: true)
        Files.write("#!/bin/sh\necho \"$*\" >>'\(calls)'\n", to: bin + "/dracut", executable: true)
        add("bootmod")
        add("plain")
        // built first: the build sandbox hides /tmp, where these tools are linked
        _ = sandbox.dkms(["build", "-k", kernel, "bootmod/1.0"])
        _ = sandbox.dkms(["build", "-k", kernel, "plain/1.0"])
        sandbox.environment["PATH"] = pathWithout(["update-initramfs", "lsinitramfs", "dracut", "lsinitrd"])
        #expect(sandbox.dkms(["install", "-k", kernel, "plain/1.0"]).status == 0)
        #expect(recorded().isEmpty, "a module the image does not hold regenerates nothing")
        let r = sandbox.dkms(["install", "-k", kernel, "bootmod/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(recorded() == ["-f --kver \(kernel)"])
    }

    /// Neither generator installed: dkms says what the initramfs needs
    /// and that it must be regenerated by hand; the install stands.
    @Test func neitherGeneratorIsSaidOnStderr() {
        FileSystem.removeFile(sandbox.root.child("bin") + "/update-initramfs")
        add("bootmod")
        _ = sandbox.dkms(["build", "-k", kernel, "bootmod/1.0"])
        sandbox.environment["PATH"] = pathWithout(["update-initramfs", "dracut"])
        let r = sandbox.dkms(["install", "-k", kernel, "bootmod/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stderr.contains("dkms: the initramfs of \(kernel) needs bootmod/1.0 (in the initramfs of \(kernel)) but neither update-initramfs nor dracut is installed; regenerate it by hand.\n"), "\(r.stderr)")
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
