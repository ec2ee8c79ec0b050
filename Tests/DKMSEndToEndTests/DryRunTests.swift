import DKMSCore
import DKMSTestSupport
import Testing

/// `--dry-run` says what would happen and changes nothing.
@Suite("Dry runs", .serialized, .enabled(if: testingOurBinary, "swift-dkms only"))
struct DryRunTests {
    let sandbox = DKMSSandbox.withFakeKernel()
    let kernel = DKMSSandbox.fakeKernel
    let arch = DKMSSandbox.arch

    /// Every entry of the trees with its mode, owner, size, time and bytes:
    /// a dry run must leave all of them as they were, not just the names.
    func snapshot() -> [String] {
        Files.fingerprint(sandbox.root.path).filter { !$0.hasPrefix("tmp") }
    }

    @Test func buildAndInstallPlans() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "plan", version: "1.0")])
        let before = snapshot()
        var r = sandbox.dkms(["install", "-k", kernel, "plan/1.0", "--dry-run"])
        #expect(r.status == 0)
        let (d, i) = (sandbox.dkmsTree, sandbox.installTree)
        #expect(r.stdout == """
            Would build plan/1.0 for kernel \(kernel) (\(arch)) in \(d)/plan/1.0/build with: make -j1 KERNELRELEASE=\(kernel) -C \(i)/\(kernel)/build M=\(d)/plan/1.0/build
            Would install plan/1.0 for kernel \(kernel) (\(arch)):
              plan -> \(i)/\(kernel)/updates/dkms/plan.ko
            Would run depmod for kernel \(kernel).

            """)
        r = sandbox.dkms(["build", "-k", "6.9.9-missing", "plan/1.0", "--dry-run"])
        #expect(r.stdout == "Would fail: no kernel headers for 6.9.9-missing at \(i)/6.9.9-missing/build.\n")
        #expect(snapshot() == before)
    }

    @Test func removeAndHookPlans() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "gone", version: "1.0")])
        _ = sandbox.dkms(["install", "-k", kernel, "gone/1.0"])
        let before = snapshot()
        var r = sandbox.dkms(["remove", "--all", "gone/1.0", "--dry-run"])
        #expect(r.stdout == """
            Would uninstall gone/1.0 from kernel \(kernel) (\(arch)):
              delete \(sandbox.installTree)/\(kernel)/updates/dkms/gone.ko
            Would run depmod for kernel \(kernel).
            Would unbuild gone/1.0 for kernel \(kernel) (\(arch)): delete \(sandbox.dkmsTree)/gone/1.0/\(kernel)/\(arch).
            Would delete gone/1.0 completely from the DKMS tree.

            """)
        r = sandbox.dkms(["kernel_prerm", "-k", kernel, "--dry-run"])
        #expect(r.stdout.hasPrefix("Would uninstall and unbuild gone/1.0 for kernel \(kernel) (\(arch)).\n"))
        for command in [["uninstall", "-k", kernel, "gone/1.0"], ["unbuild", "-k", kernel, "gone/1.0"],
                        ["build", "-k", kernel, "gone/1.0", "--force"], ["install", "-k", kernel, "gone/1.0", "--force"],
                        ["kernel_postinst", "-k", kernel], ["autoinstall", "-k", kernel]] {
            let shown = sandbox.dkms(command + ["--dry-run"])
            #expect(shown.status == 0, "\(command): \(shown)")
        }
        let after = snapshot()
        #expect(after == before, "changed: \(Set(after).symmetricDifference(before).sorted())")
    }

    @Test func autoinstallOrderFollowsDependencies() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "base", version: "1.0")])
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "top", version: "2.0", conf: """
            PACKAGE_NAME=top
            PACKAGE_VERSION=2.0
            BUILT_MODULE_NAME[0]=top
            DEST_MODULE_LOCATION[0]=/extra
            BUILD_DEPENDS[0]=base
            AUTOINSTALL=yes
            """)])
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "manual", version: "1.0", conf: """
            PACKAGE_NAME=manual
            PACKAGE_VERSION=1.0
            DEST_MODULE_LOCATION[0]=/extra
            """)])
        let before = snapshot()
        let r = sandbox.dkms(["autoinstall", "-k", kernel, "--dry-run"])
        #expect(r.stdout == """
            Would skip manual/1.0: AUTOINSTALL is not set.
            Would autoinstall for kernel \(kernel) (\(arch)), round 1 (built in parallel, installed in this order):
              1. base/1.0: build and install
            Would autoinstall for kernel \(kernel) (\(arch)), round 2 (built in parallel, installed in this order):
              2. top/2.0: build and install
            Would run depmod for kernel \(kernel) once.

            """)
        #expect(snapshot() == before)
    }
}

/// `dkms mkbmdeb`: a Debian binary package of built modules for a kernel.
@Suite("Binary module packages", .serialized, .enabled(if: testingOurBinary, "swift-dkms only"))
struct BinaryPackageTests {
    let sandbox = DKMSSandbox()
    let kernel = "6.1.0-1-fake"

    init() {
        sandbox.addFakeKernel(kernel)
    }

    @Test func packageOwnsTheModulesAndDependsOnTheKernel() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "fleet_mod", version: "1.0", modules: ["fleet_a", "fleet_b"])])
        _ = sandbox.dkms(["build", "-k", kernel, "fleet_mod/1.0"])
        let r = sandbox.dkms(["mkbmdeb", "-k", kernel, "fleet_mod/1.0"])
        #expect(r.status == 0, "\(r)")
        let deb = "\(sandbox.dkmsTree)/fleet_mod/1.0/deb/fleet-mod-modules-\(kernel)_1.0_amd64.deb"
        #expect(r.stdout.hasSuffix("Binary package location: \(deb)\n"))
        let fields = CommandRunner.run("/usr/bin/dpkg-deb", ["-f", deb, "Package", "Version", "Depends"], environment: sandbox.environment)
        #expect(fields.stdout == "Package: fleet-mod-modules-\(kernel)\nVersion: 1.0\nDepends: linux-image-\(kernel)\n")
        let files = CommandRunner.run("/usr/bin/dpkg-deb", ["-c", deb], environment: sandbox.environment).stdout
        #expect(files.contains("./lib/modules/\(kernel)/updates/dkms/fleet_a.ko"))
        #expect(files.contains("./lib/modules/\(kernel)/updates/dkms/fleet_b.ko"))
        #expect(sandbox.dkms(["status"]).stdout.contains(": built\n"))
    }

    @Test func needsABuiltModule() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "raw", version: "1.0")])
        let r = sandbox.dkms(["mkbmdeb", "-k", kernel, "raw/1.0"])
        #expect(r.status == 6)
        #expect(r.stderr.hasPrefix("\nError! No modules built for \(kernel)"))
    }

    /// The install plan `--dry-run` shows is the one install carries out:
    /// the same destinations, the same original archived.
    @Test func theInstallPlanShownIsTheOneCarriedOut() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "twin", version: "1.0", modules: ["twin_a", "twin_b"])])
        #expect(sandbox.dkms(["build", "-k", kernel, "twin/1.0"]).status == 0)
        let own = "\(sandbox.installTree)/\(kernel)/kernel/drivers/misc/twin_b.ko"
        Files.write("the kernel's own twin_b", to: own)
        let shown = sandbox.dkms(["install", "-k", kernel, "twin/1.0", "--dry-run"])
        #expect(shown.status == 0)
        let planned = shown.stdout.split(separator: "\n").filter { $0.hasPrefix("  ") }.map { line in
            line.dropFirst(2).split(separator: " ")[2]
        }.map(String.init)
        #expect(planned.count == 2, "\(shown.stdout)")
        #expect(shown.stdout.contains("(the kernel's \(own) would be archived and restored on uninstall)"))
        let done = sandbox.dkms(["install", "-k", kernel, "twin/1.0"])
        #expect(done.status == 0, "\(done.stderr)")
        let installed = done.stdout.split(separator: "\n").filter { $0.hasPrefix("Installing ") }.map { String($0.dropFirst("Installing ".count)) }
        #expect(installed == planned)
        #expect(done.stdout.contains("Found pre-existing \(own), archiving for uninstallation"))
        for path in planned { #expect(Files.exists(path)) }
        #expect(!Files.exists(own))
    }
}
