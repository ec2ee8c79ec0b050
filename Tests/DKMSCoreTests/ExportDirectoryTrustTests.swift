#if canImport(Glibc)
import Glibc
#endif
import DKMSCore
import DKMSTestSupport
import Testing

/// `cache export` writes as root only where no other user can redirect
/// its writes: the directory and its parents root's (or the caller's) and
/// writable by their owner alone (sticky parents such as /tmp allowed),
/// `entries` and `identities` no links.
@Suite("Export directory trust")
struct ExportDirectoryTrustTests {
    let directory = TemporaryDirectory()
    var trust: ExportDirectoryTrust { ExportDirectoryTrust(fileSystem: LocalFileSystem(), user: 0) }

    @Test func aDirectoryOnlyRootCanChangeIsTrusted() {
        let export = directory.child("srv/export")
        Files.makeDirectory(export)
        chmod(directory.path, 0o755)
        #expect(trust.problem(export) == nil, "\(trust.problem(export) ?? "")")
    }

    @Test func otherUsersDirectoriesAndOpenModesAreNot() throws {
        try #require(geteuid() == 0, "chown needs root")
        let export = directory.child("srv/export")
        Files.makeDirectory(export)
        chmod(export, 0o775)
        #expect(trust.problem(export) == "\(export) is writable by its group or others (mode 775)")
        chmod(export, 0o1777)
        #expect(trust.problem(export)?.hasSuffix("is writable by its group or others (mode 1777)") == true, "sticky is not enough for the directory itself")
        chmod(export, 0o755)
        chown(directory.child("srv"), 1000, 1000)
        #expect(trust.problem(export) == "\(directory.child("srv")) belongs to uid 1000")
        chown(directory.child("srv"), 0, 0)
        #expect(trust.problem(export) == nil)
        Files.makeDirectory(directory.child("elsewhere"))
        _ = FileSystem.symlink(target: directory.child("elsewhere"), at: export + "/identities")
        #expect(trust.problem(export) == "\(export)/identities is a symbolic link")
        _ = FileSystem.symlink(target: export, at: directory.child("link"))
        #expect(trust.problem(directory.child("link")) == "\(directory.child("link")) is a symbolic link")
    }
}
