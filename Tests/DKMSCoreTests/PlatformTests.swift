import DKMSTestSupport
import Testing
@testable import DKMSCore

@Suite("Platform facts")
struct PlatformTests {
    @Test func osReleaseUsesIDLikeExceptOnUbuntu() {
        #expect(OSRelease.parse("ID=debian\nVERSION_ID=\"12\"\n")["VERSION_ID"] == "12")
        let dir = TemporaryDirectory()
        Files.write("ID=ubuntu\nID_LIKE=debian\n", to: dir.child("ubuntu"))
        Files.write("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n", to: dir.child("rocky"))
        Files.write("ID='debian'\n", to: dir.child("debian"))
        #expect(OSRelease.distribution(files: [dir.child("ubuntu")]) == "ubuntu")
        #expect(OSRelease.distribution(files: [dir.child("rocky")]) == "rhel centos fedora")
        #expect(OSRelease.distribution(files: [dir.child("missing"), dir.child("debian")]) == "debian")
        #expect(OSRelease.distribution(files: [dir.child("missing")]) == nil)
    }

    @Test func kernelConfigOptions() {
        let config = KernelConfigFile(text: "CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_MODULE_SIG_HASH=\"sha256\"\n")
        #expect(config.isEnabled("CONFIG_A"))
        #expect(config.isEnabled("CONFIG_B"))
        #expect(!config.isEnabled("CONFIG_C"))
        #expect(config.unquoted("CONFIG_MODULE_SIG_HASH") == "sha256")
    }

    @Test func extendedRegexIsPosix() {
        #expect(ExtendedRegex.matches("6.1.0-56-amd64", pattern: "^6\\.[0-9]+"))
        #expect(!ExtendedRegex.matches("5.10", pattern: "^6"))
        #expect(!ExtendedRegex.matches("x", pattern: "("))
    }

    @Test func writeTextDurablyReplacesTheWholeFileOrSaysWhyNot() {
        let dir = TemporaryDirectory()
        let file = dir.child("record")
        Files.write("a much longer earlier content\n", to: file)
        #expect(FileSystem.writeTextDurably("short\n", to: file) == nil)
        #expect(Files.read(file) == "short\n")
        #expect(FileSystem.writeTextDurably("x\n", to: dir.child("missing/record")) == "No such file or directory")
        Files.makeDirectory(dir.child("directory"))
        #expect(FileSystem.writeTextDurably("x\n", to: dir.child("directory")) == "Is a directory")
    }

    @Test func treeStatesFollowTheFileSystem() {
        let dir = TemporaryDirectory()
        let tree = DKMSTree(root: dir.child("dkms"), sourceTree: dir.child("src"))
        Files.makeDirectory(dir.child("src/m-1.0"))
        Files.makeDirectory(dir.child("dkms/m/1.0"))
        #expect(tree.isBroken("m", "1.0"))
        _ = FileSystem.symlink(target: dir.child("src/m-1.0"), at: dir.child("dkms/m/1.0/source"))
        #expect(tree.isAdded("m", "1.0"))
        #expect(tree.status() == [.added(module: "m", version: "1.0")])
        Files.makeDirectory(dir.child("dkms/m/1.0/6.1.0/x86_64/module"))
        Files.makeDirectory(dir.child("dkms/m/1.0/6.10.0/x86_64/module"))
        #expect(tree.status().count == 2)
        _ = FileSystem.symlink(target: "1.0/6.1.0/x86_64", at: dir.child("dkms/m/kernel-6.1.0-x86_64"))
        #expect(tree.status(kernel: "6.1.0") == [.built(module: "m", version: "1.0", kernel: "6.1.0", arch: "x86_64", state: .installed)])
        #expect(tree.moduleVersions().map(\.version) == ["1.0"])
    }
}
