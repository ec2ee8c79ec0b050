import DKMSTestSupport
import Foundation
import Testing

/// README's "Hundreds of modules": a package of N modules installs and
/// uninstalls in time linear in N. Counted, not timed: strace counts the
/// system calls of `install` and `uninstall` (and of any child) for
/// packages of 15, 45 and 135 modules, over a kernel that has 400 modules
/// of its own; each further module must cost the same calls.
@Suite("Install cost", .serialized, .enabled(if: testingOurBinary, "swift-dkms only"))
struct InstallCostTests {
    let kernel = DKMSSandbox.fakeKernel

    /// The system calls of `install` and of `uninstall` of one package of `count` modules.
    func calls(modules count: Int) throws -> (install: Int, uninstall: Int) {
        let sandbox = DKMSSandbox.withFakeKernel()
        let own = "\(sandbox.installTree)/\(kernel)/kernel/drivers/misc"
        for index in 0..<400 { Files.write("own \(index)", to: "\(own)/own\(index).ko") }
        let names = (0..<count).map { "many\($0)" }
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "many", version: "1.0", modules: names)])
        let built = sandbox.dkms(["build", "-k", kernel, "many/1.0"])
        try #require(built.status == 0, "\(built)")
        func traced(_ arguments: [String]) throws -> Int {
            let log = sandbox.root.child("strace-\(arguments[0]).log")
            let r = CommandRunner.run("/usr/bin/strace", ["-f", "-qq", "-o", log, DKMSBinary.path] + arguments + sandbox.treeOptions,
                                      environment: sandbox.environment, workingDirectory: sandbox.root.path)
            try #require(r.status == 0, "\(arguments): \(r)")
            return (Files.read(log) ?? "").split(separator: "\n").count
        }
        let install = try traced(["install", "-k", kernel, "many/1.0"])
        #expect(Files.list("\(sandbox.installTree)/\(kernel)/updates/dkms").count == count)
        let uninstall = try traced(["uninstall", "-k", kernel, "many/1.0"])
        return (install, uninstall)
    }

    @Test func installAndUninstallCostTheSameForEachFurtherModule() throws {
        try #require(Files.exists("/usr/bin/strace"), "strace is installed by scripts/install-dependencies.sh")
        let small = try calls(modules: 15), middle = try calls(modules: 45), large = try calls(modules: 135)
        for (name, cost) in [("install", { (c: (install: Int, uninstall: Int)) in c.install }),
                             ("uninstall", { (c: (install: Int, uninstall: Int)) in c.uninstall })] {
            let first = Double(cost(middle) - cost(small)) / 30, second = Double(cost(large) - cost(middle)) / 90
            #expect(first > 0 && abs(second - first) <= 0.25 * first, "\(name): system calls per module \(first), then \(second)")
        }
    }
}
