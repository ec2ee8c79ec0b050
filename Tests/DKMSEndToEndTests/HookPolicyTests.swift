import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// One broken module never breaks a kernel upgrade, unless it must: from
/// a kernel hook (DKMS_KERNEL_HOOK set) autoinstall reports a failing
/// module, records it, and succeeds, unless the module is needed to boot;
/// direct calls keep upstream's exit status 11.
@Suite("Kernel hook failure policy", .serialized)
struct HookPolicyTests {
    let kernel = DKMSSandbox.fakeKernel
    let arch = DKMSSandbox.arch
    let sandbox = DKMSSandbox.withFakeKernel()
    let broken: String

    init() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "good", version: "1.0")])
        broken = sandbox.writeModule(name: "bad", version: "2.0")
        Files.write("this is not C\n", to: broken + "/bad.c")
        _ = sandbox.dkms(["add", broken])
    }

    func fromHook(_ arguments: [String]) -> CommandResult {
        sandbox.environment["DKMS_KERNEL_HOOK"] = "postinst"
        defer { sandbox.environment["DKMS_KERNEL_HOOK"] = nil }
        return sandbox.dkms(arguments)
    }

    func failures() -> [[String: Any]] {
        let json = sandbox.dkms(["status", "--json"]).stdout
        let document = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        return document?["failures"] as? [[String: Any]] ?? []
    }

    var log: String { "\(sandbox.dkmsTree)/.logs/bad/2.0/\(kernel)/\(arch)/make.log" }

    @Test func hookSucceedsAndReportsTheFailure() {
        let r = fromHook(["autoinstall", "-k", kernel])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("Autoinstall on \(kernel) succeeded for module(s) good.\n"))
        #expect(r.stdout.contains("Autoinstall on \(kernel) failed for module(s) bad(10).\n"))
        #expect(r.stderr.contains("dkms: bad/2.0 failed for kernel \(kernel) (\(arch)) with status 10; build log: \(log)\n"))
        #expect(r.stderr.contains("the kernel hook succeeds without them"))
        #expect(Files.exists(log))
        let recorded = failures()
        #expect(recorded.count == 1)
        #expect(recorded.first?["module"] as? String == "bad")
        #expect(recorded.first?["kernel"] as? String == kernel)
        #expect(recorded.first?["status"] as? Int == 10)
        #expect(recorded.first?["log"] as? String == log)
        #expect(sandbox.dkms(["status", "-k", kernel, "good/1.0"]).stdout == "good/1.0, \(kernel), \(arch): installed\n")
    }

    @Test func directCallKeepsUpstreamStatusAndOutput() {
        let direct = sandbox.dkms(["autoinstall", "-k", kernel])
        #expect(direct.status == 11)
        #expect(direct.stderr.contains("One or more modules failed to install during autoinstall."))
        #expect(!direct.stderr.contains("dkms: bad/2.0"))
        // The same run from a hook prints the same standard output.
        _ = sandbox.dkms(["uninstall", "-k", kernel, "good/1.0"])
        _ = sandbox.dkms(["unbuild", "-k", kernel, "good/1.0"])
        let hooked = fromHook(["autoinstall", "-k", kernel])
        #expect(hooked.stdout == direct.stdout)
        // Recorded either way.
        #expect(failures().count == 1)
    }

    @Test func requiredModuleFailsTheHook() {
        Files.write("REQUIRED_MODULE=yes\n", to: "\(sandbox.etc)/bad.conf")
        let r = fromHook(["autoinstall", "-k", kernel])
        #expect(r.status == 11, "\(r)")
        #expect(r.stderr.contains("dkms: needed to boot \(kernel): bad/2.0 (REQUIRED_MODULE=yes); the kernel hook fails.\n"))
    }

    @Test func moduleInTheInitramfsFailsTheHook() {
        let bin = sandbox.root.child("bin")
        let boot = sandbox.root.child("boot")
        Files.makeDirectory(boot)
        // The new kernel has no initramfs yet: the running one's counts.
        Files.write("image", to: "\(boot)/initrd.img-6.0.0-old")
        Files.write("#!/bin/sh\necho usr/lib/modules/6.0.0-old/updates/dkms/bad.ko\n", to: "\(bin)/lsinitramfs", executable: true)
        sandbox.environment["PATH"] = bin + ":" + (sandbox.environment["PATH"] ?? "/usr/bin:/bin")
        sandbox.environment["SWIFT_DKMS_BOOTDIR"] = boot
        let r = fromHook(["autoinstall", "-k", kernel])
        #expect(r.status == 11, "\(r)")
        #expect(r.stderr.contains("bad/2.0 (in the initramfs of 6.0.0-old); the kernel hook fails."))
    }

    /// How a module that fails to build can be needed to boot, each with a
    /// dkms.conf whose module name is not a literal (as many packages
    /// write it): the hook fails, naming the reason.
    @Test(arguments: [
        ("BUILT_MODULE_NAME[0]=\"$PACKAGE_NAME\"", "initramfs"),
        ("", "initramfs"),
        ("BUILT_MODULE_NAME[0]=\"${PACKAGE_NAME}\"", "listed"),
        ("BUILT_MODULE_NAME[0]=\"$PACKAGE_NAME\"\nREMAKE_INITRD=\"yes\"", "remake"),
        ("BUILT_MODULE_NAME[0]=\"$PACKAGE_NAME\"", "remake-admin"),
    ])
    func aModuleNeededToBootFailsTheHookWhateverItsConfSays(names: String, how: String) {
        let source = sandbox.writeModule(name: "dyn-boot", version: "1.0", conf: """
            PACKAGE_NAME="dyn-boot"
            PACKAGE_VERSION="1.0"
            \(names)
            DEST_MODULE_LOCATION[0]="/updates/dkms"
            AUTOINSTALL="yes"
            """)
        Files.write("this is not C\n", to: source + "/dyn-boot.c")
        _ = sandbox.dkms(["add", source])
        let bin = sandbox.root.child("bin"), boot = sandbox.root.child("boot"), tools = sandbox.root.child("initramfs-tools")
        Files.makeDirectory(boot)
        Files.write("image", to: "\(boot)/initrd.img-6.0.0-old")
        Files.write("#!/bin/sh\necho usr/lib/modules/6.0.0-old/kernel/fs/ext4.ko\n"
                    + (how == "initramfs" ? "echo usr/lib/modules/6.0.0-old/updates/dkms/dyn-boot.ko\n" : ""),
                    to: "\(bin)/lsinitramfs", executable: true)
        Files.write(how == "listed" ? "# modules\ndyn_boot\n" : "# modules\n", to: tools + "/modules")
        if how == "remake-admin" { Files.write("REMAKE_INITRD=yes\n", to: "\(sandbox.etc)/dyn-boot.conf") }
        sandbox.environment["PATH"] = bin + ":" + (sandbox.environment["PATH"] ?? "/usr/bin:/bin")
        sandbox.environment["SWIFT_DKMS_BOOTDIR"] = boot
        sandbox.environment["SWIFT_DKMS_INITRAMFS_TOOLS_DIR"] = tools
        let r = fromHook(["autoinstall", "-k", kernel])
        #expect(r.status == 11, "\(how): \(r)")
        let reason = ["initramfs": "in the initramfs of 6.0.0-old", "listed": "listed in \(tools)/modules",
                      "remake": "REMAKE_INITRD=yes", "remake-admin": "REMAKE_INITRD=yes"][how] ?? ""
        #expect(r.stderr.contains("dyn-boot/1.0 (\(reason))"), "\(how): \(r.stderr)")
        #expect(!r.stderr.contains("bad/2.0 ("), "bad is needed by nothing")
    }

    @Test func strictSettingRestoresUpstream() {
        Files.write("kernel_hook_failures=fail\n", to: "\(sandbox.etc)/framework.conf")
        let r = fromHook(["autoinstall", "-k", kernel])
        #expect(r.status == 11, "\(r)")
    }

    @Test func nextAutoinstallRetriesAndForgets() {
        _ = fromHook(["autoinstall", "-k", kernel])
        #expect(failures().count == 1)
        Files.write(DKMSSandbox.fakeModuleSource(version: "2.0", tag: "bad"), to: "\(sandbox.dkmsTree)/bad/2.0/source/bad.c")
        let r = sandbox.dkms(["autoinstall", "-k", kernel])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("Autoinstall on \(kernel) succeeded for module(s) good bad.\n"))
        #expect(failures().isEmpty)
        #expect(!Files.exists("\(sandbox.dkmsTree)/.failed"))
    }

    @Test func removeForgetsTheRecord() {
        _ = fromHook(["autoinstall", "-k", kernel])
        #expect(failures().count == 1)
        _ = sandbox.dkms(["remove", "bad/2.0", "--all"])
        #expect(failures().isEmpty)
        #expect(!Files.exists("\(sandbox.dkmsTree)/.failed"))
    }
}
