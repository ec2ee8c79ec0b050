import Testing
@testable import DKMSCore

/// The small parsers behind the initramfs, hook and Secure Boot checks.
@Suite("Boot facts")
struct BootFactsTests {
    @Test(arguments: [
        ("usr/lib/modules/6.1.0-57-amd64/updates/dkms/v4l2loopback.ko", "v4l2loopback"),
        ("usr/lib/modules/6.1.0-57-amd64/kernel/drivers/ata/pata-acpi.ko.xz", "pata_acpi"),
        ("lib/modules/6.1.0/kernel/fs/zfs.ko.zst", "zfs"),
        ("lib/modules/6.1.0/kernel/a.ko.gz", "a"),
    ])
    func moduleNamesOfInitramfsPaths(path: String, name: String) {
        #expect(InitramfsLayout.moduleName(ofPath: path) == name)
    }

    @Test func otherPathsAreNotModules() {
        #expect(InitramfsLayout.moduleName(ofPath: "usr/lib/modules/6.1.0/modules.dep") == nil)
        #expect(InitramfsLayout.moduleName(ofPath: "scripts/local-top/kopt") == nil)
        #expect(InitramfsLayout.moduleName(ofPath: "usr/lib/modules/6.1.0/kernel") == nil)
    }

    @Test func listedModulesIgnoreCommentsAndOptions() throws {
        let dir = "/tmp/boot-facts-\(UInt32.random(in: 0...UInt32.max))"
        _ = FileSystem.makeDirectories(dir)
        defer { FileSystem.removeTree(dir) }
        _ = FileSystem.writeText("# List of modules\n\nzfs\nnvidia-drm modeset=1\n  # raid1\n", to: dir + "/modules")
        let layout = InitramfsLayout(environment: ["SWIFT_DKMS_INITRAMFS_TOOLS_DIR": dir], fileSystem: LocalFileSystem())
        #expect(layout.listedModules() == ["zfs", "nvidia_drm"])
    }

    @Test func secureBootStates() {
        #expect(SecureBootState.parse("SecureBoot enabled\n") == .enabled)
        #expect(SecureBootState.parse("SecureBoot disabled\nPlatform is in Setup Mode\n") == .disabled)
        #expect(SecureBootState.parse("EFI variables are not supported on this system\n") == .unknown)
        #expect(SecureBootState.parse("This system doesn't support Secure Boot\n") == .unknown)
    }

    @Test func keyEnrollment() {
        #expect(KeyEnrollment.parse("/var/lib/dkms/mok.pub is already enrolled\n") == .enrolled)
        #expect(KeyEnrollment.parse("/var/lib/dkms/mok.pub is not enrolled\n") == .notEnrolled)
        #expect(KeyEnrollment.parse("/var/lib/dkms/mok.pub is already in the enrollment request\n") == .pending)
        #expect(KeyEnrollment.parse("Failed to read /x\n") == .unknown)
    }

    @Test func failureRecordsRoundTrip() {
        let tree = "/tmp/failure-records-\(UInt32.random(in: 0...UInt32.max))"
        _ = FileSystem.makeDirectories(tree)
        defer { FileSystem.removeTree(tree) }
        let records = FailureRecords(dkmsTree: tree)
        let failure = AutoinstallFailure(module: "m", version: "1", kernel: "6.1.0-1", arch: "x86_64", status: 10, log: "/l", time: 42)
        records.record(failure)
        records.record(AutoinstallFailure(module: "n", version: "2", kernel: "6.1.0-1", arch: "x86_64", status: 1, log: nil, time: 7))
        #expect(records.all() == [failure, AutoinstallFailure(module: "n", version: "2", kernel: "6.1.0-1", arch: "x86_64", status: 1, log: nil, time: 7)])
        records.clear("m", "1", "6.1.0-1", "x86_64")
        records.clear("n", "2")
        #expect(records.all().isEmpty)
        #expect(!FileSystem.exists(tree + "/.failed"))
    }
}
