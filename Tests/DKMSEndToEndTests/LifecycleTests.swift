import DKMSCore
import DKMSTestSupport
import Testing

/// The built `dkms` binary driven through a whole module life cycle on a
/// fake kernel, output and exit codes compared with what upstream dkms
/// 3.4.3 prints for the same commands (run this suite with
/// `DKMS_BINARY=/path/to/upstream/dkms` to check the expectations).
@Suite("Module life cycle", .serialized)
struct LifecycleTests {
    let sandbox = DKMSSandbox.withFakeKernel()
    let kernel = DKMSSandbox.fakeKernel
    let arch = DKMSSandbox.arch

    @Test func addBuildInstallUninstallUnbuildRemove() {
        let source = sandbox.writeModule(name: "hello", version: "1.0")
        let (d, s, i) = (sandbox.dkmsTree, sandbox.sourceTree, sandbox.installTree)

        var r = sandbox.dkms(["add", source])
        #expect(r.status == 0)
        #expect(r.stdout == "Creating symlink \(d)/hello/1.0/source -> \(s)/hello-1.0\n")
        #expect(r.stderr == "")
        #expect(Files.read("\(s)/hello-1.0/dkms.conf") != nil)

        #expect(sandbox.dkms(["status"]).stdout == "hello/1.0: added\n")

        r = sandbox.dkms(["build", "-k", kernel, "hello/1.0"])
        #expect(r.status == 0)
        #expect(r.stdout == "Module signing is disabled by policy, modules won't be signed\n\nBuilding module(s)... done.\n")
        #expect(sandbox.dkms(["status"]).stdout == "hello/1.0, \(kernel), \(arch): built\n")
        let log = Files.read("\(d)/hello/1.0/\(kernel)/\(arch)/log/make.log") ?? ""
        #expect(log.hasPrefix("DKMS (dkms-3.4.3) make.log for hello/1.0 for kernel \(kernel) (\(arch))\n"))
        #expect(log.contains("\nBuilding module(s)\n# command: make -j1 KERNELRELEASE=\(kernel) -C \(i)/\(kernel)/build M=\(d)/hello/1.0/build\n"))
        #expect(log.contains("\n# exit code: 0\n# elapsed time: 00:00:0"))
        #expect(log.hasSuffix(String(repeating: "-", count: 64) + "\n"))
        #expect(!Files.exists("\(d)/hello/1.0/build"))

        r = sandbox.dkms(["build", "-k", kernel, "hello/1.0"])
        #expect(r.stdout == "Module hello/1.0 already built for kernel \(kernel) (\(arch)), skip. You may override by specifying --force.\n")

        r = sandbox.dkms(["install", "-k", kernel, "-m", "hello", "-v", "1.0"])
        #expect(r.status == 0)
        #expect(r.stdout == "Installing \(i)/\(kernel)/updates/dkms/hello.ko\nRunning depmod... done.\n")
        #expect(Files.exists("\(i)/\(kernel)/updates/dkms/hello.ko"))
        #expect(sandbox.dkms(["status", "-k", kernel]).stdout == "hello/1.0, \(kernel), \(arch): installed\n")

        r = sandbox.dkms(["install", "-k", kernel, "hello/1.0"])
        #expect(r.stdout == "Module hello/1.0 already installed on kernel \(kernel) (\(arch)), skip. You may override by specifying --force.\n")

        r = sandbox.dkms(["uninstall", "-k", kernel, "hello/1.0"])
        #expect(r.status == 0)
        #expect(r.stdout == """
            Module hello/1.0 for kernel \(kernel) (\(arch)):
            Before uninstall, this module version was ACTIVE on this kernel.
            Deleting \(i)/\(kernel)/updates/dkms/hello.ko
            Running depmod... done.

            """)
        #expect(!Files.exists("\(i)/\(kernel)/updates"))

        r = sandbox.dkms(["unbuild", "-k", kernel, "hello/1.0"])
        #expect(r.stdout == "Module hello/1.0 is not installed for kernel \(kernel) (\(arch)). Skipping...\n")
        #expect(sandbox.dkms(["status"]).stdout == "hello/1.0: added\n")

        r = sandbox.dkms(["remove", "-k", kernel, "hello/1.0"])
        #expect(r.status == 0)
        #expect(r.stdout == """
            Module hello/1.0 is not installed for kernel \(kernel) (\(arch)). Skipping...
            Module hello/1.0 is not built for kernel \(kernel) (\(arch)). Skipping...

            Deleting module hello/1.0 completely from the DKMS tree.

            """)
        #expect(Files.visible(d).isEmpty)
        #expect(sandbox.dkms(["status"]).stdout == "")
    }

    @Test func installAddsAndBuildsAndRemoveAllCleansUp() {
        let source = sandbox.writeModule(name: "pair", version: "2.0", modules: ["first", "second"])
        var r = sandbox.dkms(["add", source + "/dkms.conf"])
        #expect(r.status == 0)
        r = sandbox.dkmsMerged(["install", "-k", kernel, "pair/2.0", "--force"])
        #expect(r.status == 0)
        #expect(r.combined == """
            Module signing is disabled by policy, modules won't be signed

            Building module(s)... done.
            Installing \(sandbox.installTree)/\(kernel)/updates/dkms/first.ko
            Installing \(sandbox.installTree)/\(kernel)/updates/dkms/second.ko
            Running depmod... done.

            """)
        r = sandbox.dkms(["remove", "--all", "pair/2.0"])
        #expect(r.status == 0)
        #expect(r.stdout.hasSuffix("Deleting module pair/2.0 completely from the DKMS tree.\n"))
        #expect(Files.walk(sandbox.installTree).allSatisfy { !$0.hasSuffix(".ko") })
        #expect(Files.visible(sandbox.dkmsTree).isEmpty)
    }

    @Test func forcedRebuildAndReinstall() {
        let source = sandbox.writeModule(name: "again", version: "1.0")
        _ = sandbox.dkms(["add", source])
        _ = sandbox.dkms(["install", "-k", kernel, "again/1.0"])
        let r = sandbox.dkms(["install", "-k", kernel, "again/1.0", "--force"])
        #expect(r.status == 0)
        #expect(r.stdout == """
            Module again/1.0 for kernel \(kernel) (\(arch)):
            Before uninstall, this module version was ACTIVE on this kernel.
            Deleting \(sandbox.installTree)/\(kernel)/updates/dkms/again.ko
            Running depmod... done.

            Installing \(sandbox.installTree)/\(kernel)/updates/dkms/again.ko
            Running depmod... done.

            """)
    }

    @Test func statusFiltersAndSuffixes() {
        let source = sandbox.writeModule(name: "flt", version: "1.0")
        _ = sandbox.dkms(["add", source])
        sandbox.addFakeKernel("6.10.0-2-fake")
        _ = sandbox.dkms(["install", "-k", kernel, "flt/1.0"])
        _ = sandbox.dkms(["build", "-k", "6.10.0-2-fake", "flt/1.0"])
        #expect(sandbox.dkms(["status"]).stdout == """
            flt/1.0, \(kernel), \(arch): installed
            flt/1.0, 6.10.0-2-fake, \(arch): built

            """)
        #expect(sandbox.dkms(["status", "-m", "flt", "-k", "6.10.0-2-fake"]).stdout == "flt/1.0, 6.10.0-2-fake, \(arch): built\n")
        #expect(sandbox.dkms(["status", "other"]).stdout == "")
        Files.write("changed", to: "\(sandbox.installTree)/\(kernel)/updates/dkms/flt.ko")
        #expect(sandbox.dkms(["status", "-k", kernel]).stdout == "flt/1.0, \(kernel), \(arch): installed (Differences between built and installed modules)\n")
        try? FileManagerShim.remove("\(sandbox.dkmsTree)/flt/1.0/6.10.0-2-fake/\(arch)/module/flt.ko")
        #expect(sandbox.dkms(["status", "-k", "6.10.0-2-fake"]).stdout == "flt/1.0, 6.10.0-2-fake, \(arch): built (Built modules are missing in the kernel modules folder)\n")
    }
}

import Foundation

enum FileManagerShim {
    static func remove(_ path: String) throws { try FileManager.default.removeItem(atPath: path) }
}
