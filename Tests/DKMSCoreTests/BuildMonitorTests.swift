import Foundation
import Testing
@testable import DKMSCore

/// What the build monitor counts as the step's private `/tmp` and
/// `/var/tmp` (memory, under `build_max_memory`): only file systems of the
/// step's own, never the host's.
@Suite("Build monitor: private temporary file systems", .serialized)
struct BuildMonitorTests {
    /// A process whose `/tmp` and `/var/tmp` are the host's (bubblewrap's
    /// child before it mounts its tmpfs, or a host process that got a
    /// finished child's pid) counts nothing. Before, it counted the host
    /// disk's used blocks, and a small build on a machine whose disk held
    /// more than half its memory was stopped for "memory".
    @Test func theHostsTemporaryDirectoriesCountNothing() {
        #expect(BuildMonitor.privateFileSystemBytes(of: getpid(), namespace: nil) == 0)
        #expect(BuildMonitor.privateFileSystemBytes(of: getpid(), namespace: BuildMonitor.pidNamespace(of: getpid())) == 0)
    }

    /// A pid no longer in the step's PID namespace (reused) counts nothing.
    @Test func aProcessOutsideTheStepsNamespaceCountsNothing() throws {
        let own = try #require(BuildMonitor.pidNamespace(of: getpid()))
        #expect(BuildMonitor.privateFileSystemBytes(of: getpid(), namespace: (own.dev, own.ino &+ 1)) == 0)
    }

    /// The positive control: a process with a private tmpfs on `/tmp`
    /// holding 8 MiB is counted at least that.
    @Test func aPrivateTmpfsIsCounted() throws {
        try #require(geteuid() == 0, "mounting a tmpfs in a private mount namespace needs root")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        child.arguments = ["-m", "--propagation", "private", "/bin/sh", "-c",
                           "mount -t tmpfs none /tmp && head -c 8388608 /dev/zero > /tmp/f && echo ready && exec sleep 5"]
        let pipe = Pipe()
        child.standardOutput = pipe
        try child.run()
        defer { child.terminate(); child.waitUntilExit() }
        let ready = String(decoding: pipe.fileHandleForReading.readData(ofLength: 6), as: UTF8.self)
        try #require(ready == "ready\n")
        // unshare execs sh in the new mount namespace: its pid is the child's.
        let counted = BuildMonitor.privateFileSystemBytes(of: child.processIdentifier, namespace: nil)
        #expect(counted >= 8 << 20)
        #expect(counted < 64 << 20)
    }
}
