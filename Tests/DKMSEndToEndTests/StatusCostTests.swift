import DKMSTestSupport
import Foundation
import Testing

/// README's "Fast status": plain dkms.conf files are read without bash and
/// `.modinfo` from the module, so `status` spawns no process per line,
/// and its work grows linearly with the lines it prints. Counted with
/// strace on trees made by bench/make-status-tree.sh (every state and
/// suffix), not timed: the system calls of each run, followed into any
/// child, are the measure.
@Suite("Status cost", .serialized)
struct StatusCostTests {
    let directory = TemporaryDirectory(prefix: "status-cost")

    /// The lines status printed, the processes it started (execve calls
    /// after its own), and every system call made, for a tree of
    /// `modules` x 6 kernels.
    func trace(modules: Int) throws -> (lines: Int, spawned: [String], calls: Int) {
        let tree = directory.child("\(modules)")
        let made = CommandRunner.run("/bin/bash", [DKMSBinary.packageRoot + "/bench/make-status-tree.sh", tree, "\(modules)", "6"],
                                     environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        try #require(made.status == 0, "\(made)")
        let log = tree + "/strace.log"
        let r = CommandRunner.run("/usr/bin/strace", ["-f", "-qq", "-o", log, DKMSBinary.path, "status",
                                                      "--dkmstree", tree + "/dkms", "--sourcetree", tree + "/src", "--installtree", tree + "/modules"],
                                  environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SWIFT_DKMS_SYSCONFDIR": tree + "/etc"])
        try #require(r.status == 0, "\(r)")
        let calls = (Files.read(log) ?? "").split(separator: "\n")
        let spawned = calls.filter { $0.contains(" execve(") }.dropFirst().map(String.init)
        return (r.stdout.split(separator: "\n").count, spawned, calls.count)
    }

    @Test(.enabled(if: testingOurBinary, "swift-dkms only"))
    func statusSpawnsNoProcessPerLineAndGrowsLinearly() throws {
        try #require(Files.exists("/usr/bin/strace"), "strace is installed by scripts/install-dependencies.sh")
        let small = try trace(modules: 12), middle = try trace(modules: 60), large = try trace(modules: 180)
        #expect(small.lines < middle.lines && middle.lines < large.lines)
        for run in [small, middle, large] {
            #expect(run.spawned.isEmpty, "status of \(run.lines) lines started processes: \(run.spawned.prefix(3))")
        }
        // The calls each further line costs, from the small to the middle
        // tree and from the middle to the large one: the same, if linear.
        let first = Double(middle.calls - small.calls) / Double(middle.lines - small.lines)
        let second = Double(large.calls - middle.calls) / Double(large.lines - middle.lines)
        #expect(abs(second - first) <= 0.2 * first, "system calls per line: \(first) then \(second)")
        // Each path asked about once per read (FileSystemSnapshot): about
        // 21.5 calls per line on these trees, 33 before.
        #expect(first <= 24 && second <= 24, "system calls per line: \(first) then \(second), more than 24")
    }
}
