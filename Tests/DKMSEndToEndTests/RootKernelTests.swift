import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// In a chroot or container the running kernel has no headers: build,
/// install and autoinstall without `-k` target the kernels installed in
/// the root instead, and say so in one line on stderr. With headers for
/// the running kernel nothing changes.
@Suite("Kernels of the root", .serialized)
struct RootKernelTests {
    let arch = DKMSSandbox.arch
    let kernels = ["6.1.0-7-fake", "6.1.0-12-fake"]

    static let running: String = {
        var info = utsname()
        uname(&info)
        return withUnsafePointer(to: info.release) { $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) } }
    }()

    func sandbox(runningHasHeaders: Bool = false) -> DKMSSandbox {
        let sandbox = DKMSSandbox()
        for kernel in kernels { sandbox.addFakeKernel(kernel) }
        if runningHasHeaders { sandbox.addFakeKernel(Self.running) }
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "rootmod", version: "1.0")])
        return sandbox
    }

    @Test func installTargetsTheInstalledKernels() {
        let sandbox = sandbox()
        let r = sandbox.dkms(["install", "rootmod/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stderr.components(separatedBy: "\n").filter { $0.hasPrefix("dkms: the running kernel") } == [
            "dkms: the running kernel \(Self.running) has no headers here; using the installed kernels 6.1.0-7-fake 6.1.0-12-fake instead.",
        ])
        for kernel in kernels {
            #expect(Files.exists("\(sandbox.installTree)/\(kernel)/updates/dkms/rootmod.ko"))
        }
        #expect(!Files.exists("\(sandbox.installTree)/\(Self.running)"))
        #expect(sandbox.dkms(["status"]).stdout == """
            rootmod/1.0, 6.1.0-12-fake, \(arch): installed
            rootmod/1.0, 6.1.0-7-fake, \(arch): installed

            """)
    }

    @Test func buildTargetsTheInstalledKernels() {
        let sandbox = sandbox()
        let r = sandbox.dkms(["build", "rootmod/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stderr.contains("using the installed kernels 6.1.0-7-fake 6.1.0-12-fake instead."))
        #expect(sandbox.dkms(["status"]).stdout == """
            rootmod/1.0, 6.1.0-12-fake, \(arch): built
            rootmod/1.0, 6.1.0-7-fake, \(arch): built

            """)
    }

    @Test func autoinstallRunsForEachInstalledKernel() {
        let sandbox = sandbox()
        let r = sandbox.dkms(["autoinstall"])
        #expect(r.status == 0, "\(r)")
        for kernel in kernels {
            #expect(r.stdout.contains("Autoinstall on \(kernel) succeeded for module(s) rootmod.\n"))
        }
        #expect(r.stderr.filter { $0 == "\n" }.count >= 1)
        #expect(sandbox.dkms(["status", "-k", kernels[1]]).stdout == "rootmod/1.0, 6.1.0-12-fake, \(arch): installed\n")
    }

    @Test func runningKernelWithHeadersIsUnchanged() {
        let sandbox = sandbox(runningHasHeaders: true)
        let r = sandbox.dkms(["install", "rootmod/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(!r.stderr.contains("dkms: the running kernel"))
        #expect(sandbox.dkms(["status"]).stdout.contains("rootmod/1.0, \(Self.running), \(arch): installed"))
        #expect(!sandbox.dkms(["status"]).stdout.contains("6.1.0-7-fake"))
    }

    @Test func explicitKernelIsUnchanged() {
        let sandbox = sandbox()
        let r = sandbox.dkms(["install", "-k", kernels[0], "rootmod/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(!r.stderr.contains("dkms: the running kernel"))
        #expect(sandbox.dkms(["status"]).stdout == "rootmod/1.0, 6.1.0-7-fake, \(arch): installed\n")
    }

    @Test func noInstalledKernelKeepsUpstreamError() {
        let sandbox = DKMSSandbox()
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "rootmod", version: "1.0")])
        let r = sandbox.dkms(["build", "rootmod/1.0"])
        #expect(r.status == 21)
        #expect(!r.stderr.contains("dkms: the running kernel"))
        #expect(r.stderr.contains("Your kernel headers for kernel \(Self.running) cannot be found"))
    }

    /// Where upstream stops before it uses a kernel (here a broken module),
    /// its output is all there is: the kernels are not announced.
    @Test func upstreamErrorsComeWithoutTheAnnouncement() {
        let sandbox = sandbox()
        FileSystem.removeFile("\(sandbox.dkmsTree)/rootmod/1.0/source")
        let r = sandbox.dkmsMerged(["build", "rootmod/1.0"])
        #expect(r.status == 4)
        #expect(r.combined == "\nError! rootmod/1.0 is broken!\nMissing the source directory or the symbolic link pointing to it.\nManual intervention is required!\n")
        let missing = sandbox.dkmsMerged(["build", "missing/1.0"])
        #expect(missing.status == 2)
        #expect(!missing.combined.contains("dkms: the running kernel"))
        #expect(missing.combined.hasPrefix("\nError! Could not find module source directory."))
    }
}
