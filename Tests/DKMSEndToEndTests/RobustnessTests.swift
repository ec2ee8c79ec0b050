import DKMSCore
import DKMSTestSupport
import Foundation
import Testing

/// Beyond upstream: the tree lock, journaled installs, fsck, retained logs
/// and optional modules.
@Suite("Robustness", .serialized, .enabled(if: testingOurBinary, "features beyond upstream"))
struct RobustnessTests {
    let sandbox = DKMSSandbox.withFakeKernel()
    let kernel = DKMSSandbox.fakeKernel
    let arch = DKMSSandbox.arch

    @Test func aSecondCommandWaitsForTheLock() throws {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "wait", version: "1.0")])
        // Hold the lock from another process for a moment.
        let holder = try sandbox.holdTreeLock(seconds: 2)
        let r = sandbox.dkms(["build", "-k", kernel, "wait/1.0"])
        holder.waitUntilExit()
        #expect(r.status == 0)
        #expect(r.stderr.hasPrefix("dkms: waiting for the lock on \(sandbox.dkmsTree) held by process "))
        #expect(sandbox.dkms(["status"]).stdout == "wait/1.0, \(kernel), \(arch): built\n")
    }

    /// Readers never wait for the lock (README, docs/consistency.md and
    /// docs/cache.md): each ends while another process still holds it.
    @Test func readersDoNotWaitForTheLock() throws {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "rd", version: "1.0")])
        let holder = try sandbox.holdTreeLock(seconds: 8)
        for reader in [["status"], ["status", "--json"], ["install", "-k", kernel, "rd/1.0", "--dry-run"],
                       ["autoinstall", "-k", kernel, "--dry-run"], ["cache", "list"], ["cache", "stats"]] {
            let r = sandbox.dkms(reader)
            #expect(r.status == 0, "\(reader): \(r)")
            #expect(!r.stderr.contains("waiting for the lock"), "\(reader): \(r.stderr)")
            #expect(holder.isRunning, "\(reader) ended only after the lock was released")
        }
        holder.waitUntilExit()
    }

    @Test func anInterruptedInstallIsRolledBack() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "jrn", version: "1.0")])
        _ = sandbox.dkms(["build", "-k", kernel, "jrn/1.0"])
        // What a killed install leaves: a journal entry, a copied file, no link.
        let installed = "\(sandbox.installTree)/\(kernel)/updates/dkms/jrn.ko"
        Files.write("half", to: installed)
        Files.write("begin\tinstall\tjrn\t1.0\t\(kernel)\t\(arch)\ncopied\t\(installed)\n", to: sandbox.dkmsTree + "/.journal/install-1-1")
        let r = sandbox.dkms(["install", "-k", kernel, "jrn/1.0"])
        #expect(r.stderr == "dkms: rolled back an interrupted install of jrn/1.0 for kernel \(kernel) (\(arch))\n")
        #expect(r.status == 0)
        #expect(FileManager.default.contentsEqual(atPath: installed, andPath: "\(sandbox.dkmsTree)/jrn/1.0/\(kernel)/\(arch)/module/jrn.ko"))
        #expect(!Files.exists(sandbox.dkmsTree + "/.journal"))
    }

    /// An active link to a build that is gone (removed by hand) is removed
    /// by fsck, and status then says what is really there.
    @Test func fsckRemovesAnActiveLinkToNothing() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "dang", version: "1.0")])
        _ = sandbox.dkms(["build", "-k", kernel, "dang/1.0"])
        let link = "\(sandbox.dkmsTree)/dang/kernel-\(kernel)-\(arch)"
        _ = FileSystem.symlink(target: "1.0/\(kernel)/\(arch)", at: link)
        FileSystem.removeTree("\(sandbox.dkmsTree)/dang/1.0/\(kernel)")
        let r = sandbox.dkms(["fsck"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == "Removed \(link): it pointed to no built module.\n", "\(r.stdout)")
        #expect(!Files.exists(link))
        #expect(sandbox.dkms(["status"]).stdout == "dang/1.0: added\n")
        #expect(sandbox.dkms(["fsck"]).stdout == "No problems found in \(sandbox.dkmsTree).\n")
    }

    @Test func fsckRepairsWhatCrashesAndHandsLeave() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "fix", version: "1.0")])
        _ = sandbox.dkms(["install", "-k", kernel, "fix/1.0"])
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "gone", version: "2.0")])
        _ = sandbox.dkms(["install", "-k", kernel, "gone/2.0"])
        let d = sandbox.dkmsTree
        let k = "\(sandbox.installTree)/\(kernel)"
        Files.makeDirectory("\(d)/fix/1.0/\(kernel)/.tmp_\(arch)_abcdef")
        Files.makeDirectory("\(d)/fix/1.0/6.2.0-9-fake/\(arch)")
        Files.write("stray", to: "\(k)/updates/dkms/stray.ko")
        try? FileManager.default.removeItem(atPath: "\(sandbox.sourceTree)/gone-2.0")
        var r = sandbox.dkms(["fsck"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == """
            Removed the leftover temporary directory \(d)/fix/1.0/\(kernel)/.tmp_\(arch)_abcdef.
            Removed the incomplete build \(d)/fix/1.0/6.2.0-9-fake/\(arch).
            Removed gone/2.0: its source directory is gone.
            Removed \(k)/updates/dkms/stray.ko: no installed dkms module owns it.

            """)
        #expect(!Files.exists("\(k)/updates/dkms/gone.ko"))
        #expect(sandbox.dkms(["status"]).stdout == "fix/1.0, \(kernel), \(arch): installed\n")
        r = sandbox.dkms(["fsck"])
        #expect(r.stdout == "No problems found in \(d).\n")
    }

    @Test func anInterruptedUninstallIsCompleted() {
        // Killed after writing the plan and deleting the file, before the link.
        _ = sandbox.tornUninstall("half")
        let r = sandbox.dkms(["build", "-k", kernel, "half/1.0"])
        #expect(r.stderr == "dkms: completed an interrupted uninstall of half/1.0 for kernel \(kernel) (\(arch))\n")
        #expect(sandbox.dkms(["status"]).stdout == "half/1.0, \(kernel), \(arch): built\n")
    }

    /// A power cut while uninstall restores the kernel's own module across
    /// file systems (a copy) leaves the copy's temporary name next to the
    /// original's place: completing the uninstall removes it (tests/powercut).
    @Test func completingAnUninstallRemovesAnInterruptedRestoreCopy() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "rest", version: "1.0")])
        _ = sandbox.dkms(["install", "-k", kernel, "rest/1.0"])
        let installed = "\(sandbox.installTree)/\(kernel)/updates/dkms/rest.ko"
        let link = "\(sandbox.dkmsTree)/rest/kernel-\(kernel)-\(arch)"
        let archive = "\(sandbox.dkmsTree)/rest/original_module/\(kernel)/\(arch)/rest.ko"
        let place = "\(sandbox.installTree)/\(kernel)/kernel/drivers/rest.ko"
        Files.write("the kernel's own", to: archive)
        Files.write(place + "\n", to: archive + ".origin")
        // Killed during the restore's copy: its temporary is next to the place.
        Files.write("partial", to: "\(sandbox.installTree)/\(kernel)/kernel/drivers/.rest.ko.dkms-new.77")
        try? FileManager.default.removeItem(atPath: installed)
        Files.write("begin\tuninstall\trest\t1.0\t\(kernel)\t\(arch)\ndelete\t\(installed)\nrestore\t\(archive)\t\(place)\nunlink\t\(link)\n",
                    to: sandbox.dkmsTree + "/.journal/uninstall-1-1")
        let r = sandbox.dkms(["fsck"])
        #expect(r.stderr.contains("completed an interrupted uninstall of rest/1.0"))
        #expect(Files.read(place) == "the kernel's own")
        #expect(!Files.exists("\(sandbox.installTree)/\(kernel)/kernel/drivers/.rest.ko.dkms-new.77"))
        #expect(!Files.exists(archive))
    }

    @Test func fsckReinstallsMissingFilesAndCleansPartialCopies() {
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "lost", version: "1.0")])
        _ = sandbox.dkms(["install", "-k", kernel, "lost/1.0"])
        let dir = "\(sandbox.installTree)/\(kernel)/updates/dkms"
        try? FileManager.default.removeItem(atPath: dir + "/lost.ko")
        Files.write("partial", to: dir + "/.lost.ko.dkms-new.123")
        Files.write("partial", to: sandbox.dkmsTree + "/.logs/lost/1.0/.make.log.dkms-new.456")
        let r = sandbox.dkms(["fsck"])
        #expect(r.stdout.contains("Reinstalled the missing \(dir)/lost.ko of lost/1.0.\n"))
        #expect(r.stdout.contains("Removed the partial copy \(dir)/.lost.ko.dkms-new.123.\n"))
        #expect(r.stdout.contains("Removed the partial copy \(sandbox.dkmsTree)/.logs/lost/1.0/.make.log.dkms-new.456.\n"))
        #expect(sandbox.dkms(["status"]).stdout == "lost/1.0, \(kernel), \(arch): installed\n")
        #expect(sandbox.dkms(["fsck"]).stdout == "No problems found in \(sandbox.dkmsTree).\n")
    }

    @Test func buildLogsAreKeptPerKernelAndFailuresReported() {
        let source = sandbox.writeModule(name: "flaky", version: "1.0")
        Files.write("not C\n", to: source + "/flaky.c")
        _ = sandbox.dkms(["add", source])
        Files.write("OPTIONAL_MODULE=yes\n", to: sandbox.etc + "/flaky.conf")
        Files.write("report_build_logs=yes\n", to: sandbox.etc + "/framework.conf")
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "fine", version: "1.0")])
        let r = sandbox.dkms(["autoinstall", "-k", kernel])
        let log = "\(sandbox.dkmsTree)/.logs/flaky/1.0/\(kernel)/\(arch)/make.log"
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.hasSuffix("""
            Autoinstall on \(kernel) succeeded for module(s) fine.
            Autoinstall on \(kernel) failed for optional module(s) flaky(10).
            Build log of flaky/1.0 for kernel \(kernel) (\(arch)): \(log)

            """))
        #expect((Files.read(log) ?? "").contains("# exit code: 2"))
        #expect(Files.exists("\(sandbox.dkmsTree)/.logs/fine/1.0/\(kernel)/\(arch)/make.log"))
        _ = sandbox.dkms(["remove", "--all", "fine/1.0"])
        #expect(!Files.exists("\(sandbox.dkmsTree)/.logs/fine"))
    }
}
