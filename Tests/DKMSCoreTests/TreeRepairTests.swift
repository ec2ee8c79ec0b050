import DKMSTestSupport
import Testing
@testable import DKMSCore

/// `dkms fsck`'s repairs of the trees, over an in-memory file system: every
/// read and every change goes through the injected file system.
@Suite("fsck tree repairs in memory")
struct TreeRepairTests {
    let files = InMemoryFileSystem()
    let kernel = "6.1.0-1-amd64"
    var tree: DKMSTree { DKMSTree(root: "/var/lib/dkms", sourceTree: "/usr/src", fileSystem: files) }
    var repair: TreeRepair { TreeRepair(tree: tree, installTree: "/lib/modules", dkmsOnlyLocation: "/updates/dkms") }

    func addBuildAndInstall(_ module: String, _ version: String) {
        files.create("PACKAGE_NAME=\(module)\n", at: "/usr/src/\(module)-\(version)/dkms.conf")
        files.makeDirectories(tree.versionDirectory(module, version))
        files.symlink(target: "/usr/src/\(module)-\(version)", at: tree.sourceDirectory(module, version))
        files.create("ko \(module)", at: tree.builtDirectory(module, version, kernel, "x86_64") + "/module/\(module).ko")
        files.replaceSymlink(at: tree.activeLink(module, kernel, "x86_64"), target: "\(version)/\(kernel)/x86_64")
        files.create("ko \(module)", at: "/lib/modules/\(kernel)/updates/dkms/\(module).ko")
    }

    @Test func leftoversOfInterruptedCommandsAreRemoved() {
        addBuildAndInstall("hello", "1.0")
        files.makeDirectories("/usr/src/.tmp_copy")
        files.makeDirectories(tree.versionDirectory("hello", "1.0") + "/.build_\(kernel)_x86_64_abc")
        files.create("half", at: tree.builtDirectory("hello", "1.0", kernel, "x86_64") + "/module/.hello.ko.dkms-new.42")
        files.makeDirectories(tree.versionDirectory("hello", "1.0") + "/\(kernel)/i686")
        var said: [String] = []
        let kernels = repair.removeLeftovers { said.append($0) }
        #expect(kernels.isEmpty)
        #expect(!files.exists("/usr/src/.tmp_copy"))
        #expect(!files.exists(tree.versionDirectory("hello", "1.0") + "/.build_\(kernel)_x86_64_abc"))
        #expect(!files.existsNoFollow(tree.builtDirectory("hello", "1.0", kernel, "x86_64") + "/module/.hello.ko.dkms-new.42"))
        #expect(!files.exists(tree.versionDirectory("hello", "1.0") + "/\(kernel)/i686"), "an incomplete build goes")
        #expect(files.readText(tree.builtDirectory("hello", "1.0", kernel, "x86_64") + "/module/hello.ko") == "ko hello")
        #expect(said.count == 4, "\(said)")
    }

    @Test func aVersionWhoseSourceIsGoneIsUninstalledAndRemoved() {
        addBuildAndInstall("gone", "2.0")
        files.create("original", at: tree.originalModulesDirectory("gone", kernel, "x86_64") + "/gone.ko")
        files.create("/lib/modules/\(kernel)/kernel/gone.ko\n", at: tree.originalModulesDirectory("gone", kernel, "x86_64") + "/gone.ko.origin")
        files.removeTree("/usr/src/gone-2.0")
        let kernels = repair.removeLeftovers { _ in }
        #expect(kernels == [kernel])
        #expect(!files.exists("/lib/modules/\(kernel)/updates/dkms/gone.ko"))
        #expect(files.readText("/lib/modules/\(kernel)/kernel/gone.ko") == "original", "the archived original is back")
        #expect(!files.existsNoFollow(tree.versionDirectory("gone", "2.0")))
    }

    @Test func orphanedModulesInDkmsOwnDestinationAreRemoved() {
        addBuildAndInstall("hello", "1.0")
        files.create("stray", at: "/lib/modules/\(kernel)/updates/dkms/stray.ko")
        files.create("shared", at: "/lib/modules/\(kernel)/extra/other.ko")
        #expect(repair.removeOrphanedModules(kernel: kernel) { _ in })
        #expect(!files.exists("/lib/modules/\(kernel)/updates/dkms/stray.ko"))
        #expect(files.exists("/lib/modules/\(kernel)/updates/dkms/hello.ko"), "an owned module stays")
        #expect(files.exists("/lib/modules/\(kernel)/extra/other.ko"), "/extra is shared with packages")
    }
}
