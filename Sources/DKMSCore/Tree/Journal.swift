#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A write-ahead record of one install or uninstall, so that a command
/// killed half way (SIGKILL, power loss) is rolled back (install) or
/// completed (uninstall) by the next dkms command.
///
/// Entries live in `$dkms_tree/.journal/ID`, one step per line, each line
/// flushed to disk before the step it announces is performed:
/// `begin KIND MODULE VERSION KERNEL ARCH`, `saved PATH BACKUP` (a file
/// moved aside), `copied PATH` (a file created), `link PATH PREVIOUS`
/// (an active link replaced), `delete PATH`, `restore BACKUP ORIGIN`,
/// `unlink PATH`. Fields are tab-separated.
package struct Journal: Sendable {
    /// `$dkms_tree/.journal`.
    package let directory: String
    /// Where the entries and the stashed files live.
    package let fileSystem: any FileSystemAccess

    /// Creates the journal of a tree, kept on `fileSystem`.
    package init(dkmsTree: String, fileSystem: any FileSystemAccess = LocalFileSystem()) {
        directory = dkmsTree + "/.journal"
        self.fileSystem = fileSystem
    }

    /// One open entry.
    package final class Entry {
        /// The entry file.
        package let path: String
        /// Where files moved aside by this entry are kept.
        package var stash: String { path + ".d" }
        private let fileSystem: any FileSystemAccess
        private var counter = 0
        /// Why a record could not be written whole and flushed (no room, a
        /// read-only tree), or nil. The step it announced must not be
        /// performed: the journal would not know about it.
        package private(set) var failure: String?

        init(path: String, fileSystem: any FileSystemAccess) {
            self.path = path
            self.fileSystem = fileSystem
        }

        /// Records a step and flushes it before the caller performs it.
        package func record(_ fields: String...) {
            recordAll([fields])
        }

        /// Records several steps with one write, so a plan is on disk
        /// whole or not at all before any of it is carried out.
        package func recordAll(_ steps: [[String]]) {
            let line = steps.map { $0.joined(separator: "\t") + "\n" }.joined()
            if let reason = fileSystem.appendDurably(line, to: path) {
                failure = failure ?? reason
            }
        }

        /// Stops a transaction whose last step could not be recorded (that
        /// step has not been performed).
        package func requireRecorded() throws(DKMSError) {
            if let failure {
                throw DKMSError(.patchOrInstallFailed, "Cannot write the journal \(path) (\(failure)).", "The change was not made.")
            }
        }

        /// A fresh path in the stash for a file moved aside.
        package func stashPath() -> String {
            counter += 1
            fileSystem.makeDirectories(stash)
            return "\(stash)/\(counter)"
        }
    }

    /// Opens an entry for a transaction.
    package func begin(_ kind: String, module: String, version: String, kernel: String, arch: String) -> Entry {
        fileSystem.makeDirectories(directory)
        let entry = Entry(path: "\(directory)/\(kind)-\(getpid())-\(Self.uniqueSuffix())", fileSystem: fileSystem)
        entry.record("begin", kind, module, version, kernel, arch)
        return entry
    }

    /// Closes a finished transaction.
    package func commit(_ entry: Entry) {
        fileSystem.removeTree(entry.stash)
        fileSystem.removeFile(entry.path)
        fileSystem.syncDirectory(directory)
        fileSystem.removeDirectory(directory)
    }

    /// The entries left by interrupted commands.
    package func pending() -> [String] {
        fileSystem.entries(of: directory).filter { !$0.hasSuffix(".d") }.sorted().map { "\(directory)/\($0)" }
    }

    /// The steps of an entry, split into fields.
    package func steps(of path: String) -> [[String]] {
        (fileSystem.readText(path) ?? "").split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    static func uniqueSuffix() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return "\(now.tv_sec)\(now.tv_nsec)"
    }
}
