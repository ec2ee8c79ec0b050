import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// Finds installed Debian kernel headers (`/lib/modules/K/build` with a
/// real kbuild); tests that need one are skipped when there is none.
enum InstalledHeaders {
    static let kernels: [String] = {
        if let chosen = ProcessInfo.processInfo.environment["DKMS_TEST_KERNEL"], !chosen.isEmpty { return [chosen] }
        return Files.list("/lib/modules").filter {
            Files.exists("/lib/modules/\($0)/build/Makefile") && Files.exists("/lib/modules/\($0)/build/include")
        }
    }()

    static var first: String? { kernels.first }
}

/// Builds the bundled example module for real against installed headers.
@Suite("Real kernel builds", .serialized, .enabled(if: InstalledHeaders.first != nil, "no kernel headers installed"))
struct RealKernelBuildTests {
    let sandbox = DKMSSandbox()
    let kernel = InstalledHeaders.first ?? ""
    let arch = Settings.uname().machine

    init() {
        Files.makeDirectory("\(sandbox.installTree)/\(kernel)")
        _ = FileSystem.symlink(target: "/lib/modules/\(kernel)/build", at: "\(sandbox.installTree)/\(kernel)/build")
    }

    @Test func exampleModuleBuildsInstallsAndCarriesTheKernelsVermagic() throws {
        let example = DKMSBinary.packageRoot + "/examples/hello-dkms"
        var r = sandbox.dkms(["add", example])
        #expect(r.status == 0, "\(r)")
        r = sandbox.dkms(["install", "-k", kernel, "hello-dkms/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdoutWithoutProgressDots.hasSuffix("""
            Building module(s)... done.
            Installing \(sandbox.installTree)/\(kernel)/updates/dkms/hello_dkms.ko
            Running depmod... done.

            """))
        let installed = "\(sandbox.installTree)/\(kernel)/updates/dkms/hello_dkms.ko"
        let vermagic = CommandRunner.run("/sbin/modinfo", ["-F", "vermagic", installed], environment: sandbox.environment)
        #expect(vermagic.stdout.hasPrefix(kernel + " "), "\(vermagic)")
        let version = CommandRunner.run("/sbin/modinfo", ["-F", "version", installed], environment: sandbox.environment)
        #expect(version.stdout == "1.0\n")
        let log = Files.read("\(sandbox.dkmsTree)/hello-dkms/1.0/\(kernel)/\(arch)/log/make.log") ?? ""
        #expect(log.contains("# command: make -j1 KERNELRELEASE=\(kernel) -C \(sandbox.installTree)/\(kernel)/build M=\(sandbox.dkmsTree)/hello-dkms/1.0/build"))
        #expect(sandbox.dkms(["status"]).stdout == "hello-dkms/1.0, \(kernel), \(arch): installed\n")
        r = sandbox.dkms(["remove", "hello-dkms/1.0", "--all"])
        #expect(r.status == 0)
        #expect(!Files.exists(installed))
        #expect(Files.visible(sandbox.dkmsTree).isEmpty)
    }
}

/// autoinstall and the kernel hooks over several real installed kernels.
@Suite("Kernel hooks on real kernels", .serialized, .enabled(if: InstalledHeaders.all.count >= 2, "needs two kernels' headers"))
struct RealKernelHookTests {
    let sandbox = DKMSSandbox()
    let kernels = Array(InstalledHeaders.all.prefix(3))
    let arch = DKMSSandbox.arch

    init() {
        for kernel in kernels {
            Files.makeDirectory("\(sandbox.installTree)/\(kernel)")
            _ = FileSystem.symlink(target: "/lib/modules/\(kernel)/build", at: "\(sandbox.installTree)/\(kernel)/build")
        }
    }

    @Test func autoinstallPerKernelThenPrerm() {
        _ = sandbox.dkms(["add", DKMSBinary.packageRoot + "/examples/hello-dkms"])
        for kernel in kernels {
            let r = sandbox.dkms(["kernel_postinst", "-k", kernel])
            #expect(r.status == 0, "\(r)")
            #expect(r.stdout.hasSuffix("Autoinstall on \(kernel) succeeded for module(s) hello-dkms.\n"))
            let vermagic = CommandRunner.run("/sbin/modinfo", ["-F", "vermagic", "\(sandbox.installTree)/\(kernel)/updates/dkms/hello_dkms.ko"],
                                             environment: sandbox.environment)
            #expect(vermagic.stdout.hasPrefix(kernel + " "))
        }
        #expect(sandbox.dkms(["status"]).stdout.split(separator: "\n").count == kernels.count)
        let again = sandbox.dkms(["autoinstall", "-k", kernels[0]])
        #expect(again.stdout == "")
        let r = sandbox.dkms(["kernel_prerm", "-k", kernels[0]])
        #expect(r.status == 0)
        #expect(r.stderr == "dkms: removing module hello-dkms/1.0 for kernel \(kernels[0]) (\(arch))\n")
        #expect(!Files.exists("\(sandbox.installTree)/\(kernels[0])/updates"))
        #expect(sandbox.dkms(["status"]).stdout.split(separator: "\n").count == kernels.count - 1)
    }
}

extension InstalledHeaders {
    /// Every installed kernel with complete headers.
    static let all: [String] = Files.list("/lib/modules").filter {
        Files.exists("/lib/modules/\($0)/build/Makefile") && Files.exists("/lib/modules/\($0)/build/include")
    }
}
