import DKMSTestSupport
import Testing
@testable import DKMSCore

/// The checks made before an install or uninstall changes anything, asked
/// of the file system they are given.
@Suite("Write preflight")
struct WritePreflightTests {
    let files = InMemoryFileSystem()
    let kernel = "/lib/modules/6.1.0-1-amd64"

    init() {
        files.create("", at: kernel + "/modules.dep")
        files.create("module", at: kernel + "/updates/dkms/hello.ko")
    }

    @Test func anInstallIntoDirectoriesOfTheGivenFileSystemPasses() throws {
        try WritePreflight.install(destinations: [kernel + "/extra/new", kernel + "/updates/dkms"],
                                   module: "hello", version: "1.0", fileSystem: files)
        #expect(WritePreflight.nearestExisting(kernel + "/extra/new", fileSystem: files) == kernel)
    }

    @Test func anInstallIntoAReadOnlyFileSystemIsRefusedBeforeAnyChange() {
        files.failsWrites = true
        do {
            try WritePreflight.install(destinations: [kernel + "/updates/dkms"], module: "hello", version: "1.0", fileSystem: files)
            Issue.record("a read-only file system passed the preflight")
        } catch {
            #expect(error.code == .patchOrInstallFailed)
            #expect(error.lines.first?.hasPrefix("Cannot install hello/1.0: \(kernel)/updates/dkms is not writable (") == true)
            #expect(error.lines.last == "Nothing was changed.")
        }
    }

    @Test func anUninstallPlanIsCheckedInTheGivenFileSystem() throws {
        let plan = [["delete", kernel + "/updates/dkms/hello.ko"], ["unlink", "/var/lib/dkms/hello/kernel-6.1.0-1-amd64-x86_64"]]
        files.makeDirectories("/var/lib/dkms/hello")
        try WritePreflight.uninstall(plan, module: "hello", version: "1.0", fileSystem: files)
        files.failsWrites = true
        #expect(throws: DKMSError.self) { try WritePreflight.uninstall(plan, module: "hello", version: "1.0", fileSystem: files) }
    }
}
