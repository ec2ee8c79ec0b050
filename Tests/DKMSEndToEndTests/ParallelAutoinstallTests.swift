import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// Autoinstall builds independent modules at once under one job budget,
/// and prints exactly what the one-at-a-time run prints.
@Suite("Parallel autoinstall", .serialized)
struct ParallelAutoinstallTests {
    let kernel = "6.1.0-1-fake"

    /// A sandbox with five modules, one failing, one depending on another.
    func prepared() -> DKMSSandbox {
        let sandbox = DKMSSandbox()
        sandbox.addFakeKernel(kernel)
        for name in ["alpha", "bravo", "charlie"] {
            _ = sandbox.dkms(["add", sandbox.writeModule(name: name, version: "1.0")])
        }
        let failing = sandbox.writeModule(name: "delta", version: "1.0")
        Files.write("not C\n", to: failing + "/delta.c")
        _ = sandbox.dkms(["add", failing])
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "echo", version: "1.0", conf: """
            PACKAGE_NAME=echo
            PACKAGE_VERSION=1.0
            BUILT_MODULE_NAME[0]=echo
            DEST_MODULE_LOCATION[0]=/extra
            BUILD_DEPENDS[0]=alpha
            AUTOINSTALL=yes
            """)])
        return sandbox
    }

    /// The output with every temporary sandbox path and the job count
    /// (part of the make command upstream prints) made neutral.
    func normalized(_ result: CommandResult, _ sandbox: DKMSSandbox) -> String {
        result.combined.replacingOccurrences(of: sandbox.root.path, with: "ROOT")
            .replacingOccurrences(of: "make -j1 ", with: "make -jN ").replacingOccurrences(of: "make -j3 ", with: "make -jN ")
    }

    @Test func sameOutputAndTreeAsOneAtATime() {
        let serial = prepared()
        serial.environment["parallel_jobs"] = "1"
        let one = serial.dkmsMerged(["autoinstall", "-k", kernel])
        let parallel = prepared()
        parallel.environment["parallel_jobs"] = "3"
        let many = parallel.dkmsMerged(["autoinstall", "-k", kernel])
        #expect(one.status == 11)
        #expect(many.status == 11)
        #expect(normalized(many, parallel) == normalized(one, serial))
        #expect(many.combined.contains("Autoinstall on \(kernel) succeeded for module(s) alpha bravo charlie echo.\n"))
        #expect(many.combined.contains("Autoinstall on \(kernel) failed for module(s) delta(10).\n"))
        #expect(parallel.dkms(["status"]).stdout == serial.dkms(["status"]).stdout)
    }

    /// README's "depmod runs once per kernel": an autoinstall of five
    /// modules (one failing) runs depmod for its kernel once, after the
    /// last install; one for each kernel with `--all-kernels`. A depmod
    /// stub on PATH records its arguments and the modules it finds.
    @Test func depmodRunsOncePerKernelAfterTheLastInstall() {
        let sandbox = prepared()
        let other = "6.1.0-2-fake"
        sandbox.addFakeKernel(other)
        let log = sandbox.root.child("depmod.calls"), bin = sandbox.root.child("bin")
        for k in [kernel, other] { Files.write("", to: "\(sandbox.installTree)/\(k)/modules.dep") }
        Files.write("""
            #!/bin/sh
            echo "$* : $(cd '\(sandbox.installTree)'/"$2"/updates/dkms 2>/dev/null && ls | tr '\\n' ' ')" >>'\(log)'

            """, to: bin + "/depmod", executable: true)
        sandbox.environment["PATH"] = bin + ":" + (sandbox.environment["PATH"] ?? "/usr/bin:/bin")
        sandbox.environment["parallel_jobs"] = "3"
        let all = "alpha.ko bravo.ko charlie.ko echo.ko "
        var r = sandbox.dkms(["autoinstall", "-k", kernel])
        #expect(r.status == 11, "\(r)")
        #expect(Files.read(log) == "-a \(kernel) : \(all)\n", "\(Files.read(log) ?? "")")
        Files.write("", to: log)
        r = sandbox.dkms(["autoinstall", "--all-kernels"])
        #expect(r.status == 11, "\(r)")
        let calls = (Files.read(log) ?? "").split(separator: "\n").map(String.init)
        #expect(calls == ["-a \(other) : \(all)"], "the first kernel had nothing new to install: \(calls)")
    }

    @Test func jobsShareOneBudget() {
        // A fake kbuild that records how many compilations run at once.
        let sandbox = prepared()
        let counter = sandbox.root.child("running")
        Files.write("", to: counter)
        let build = "\(sandbox.installTree)/\(kernel)/build/Makefile"
        Files.write(DKMSSandbox.fakeKbuild.replacingOccurrences(of: "\tcc -c $< -o $@", with: """
            \tflock \(counter).lock sh -c 'echo + >> \(counter); wc -l < \(counter) >> \(counter).peak'; sleep 1; cc -c $< -o $@; flock \(counter).lock sed -i '$$d' \(counter)
            """), to: build)
        sandbox.environment["parallel_jobs"] = "2"
        // The counter lives outside the build directories, where a sandboxed
        // build may not write.
        sandbox.environment["build_sandbox"] = "no"
        let r = sandbox.dkms(["autoinstall", "-k", kernel])
        #expect(r.status == 11)
        let peaks = (Files.read(counter + ".peak") ?? "").split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        #expect(peaks.max() == 2, "peaks: \(peaks)")
    }
}
