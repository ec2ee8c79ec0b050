#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A module version that autoinstall could not build or install for a
/// kernel, as recorded in the dkms tree (`$dkms_tree/.failed/M/V/K/ARCH`)
/// until a later autoinstall for that kernel succeeds.
package struct AutoinstallFailure: Sendable, Equatable {
    /// The module.
    package var module: String
    /// Its version.
    package var version: String
    /// The kernel it failed for.
    package var kernel: String
    /// The architecture.
    package var arch: String
    /// The exit status of the failed build or install.
    package var status: Int32
    /// The kept build log, when one exists.
    package var log: String?
    /// When it failed (seconds since the epoch).
    package var time: Int

    /// Creates a record.
    package init(module: String, version: String, kernel: String, arch: String, status: Int32, log: String?, time: Int) {
        self.module = module
        self.version = version
        self.kernel = kernel
        self.arch = arch
        self.status = status
        self.log = log
        self.time = time
    }
}

/// The failure records of one dkms tree: one small file per (module,
/// version, kernel, arch), `status=N`, `log=PATH`, `time=EPOCH` lines.
package struct FailureRecords: Sendable {
    /// The dkms tree.
    package var dkmsTree: String
    /// The file system the records are kept on.
    package let fileSystem: any FileSystemAccess

    /// Creates the view of `dkmsTree`'s records, kept on `fileSystem`.
    package init(dkmsTree: String, fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.dkmsTree = dkmsTree
        self.fileSystem = fileSystem
    }

    /// `$dkms_tree/.failed`.
    package var directory: String { "\(dkmsTree)/.failed" }

    func path(_ module: String, _ version: String, _ kernel: String, _ arch: String) -> String {
        "\(directory)/\(module)/\(version)/\(kernel)/\(arch)"
    }

    /// Records (or replaces) a failure.
    package func record(_ failure: AutoinstallFailure) {
        let file = path(failure.module, failure.version, failure.kernel, failure.arch)
        guard fileSystem.makeDirectories(FileSystem.split(file).directory) else { return }
        let text = "status=\(failure.status)\nlog=\(failure.log ?? "")\ntime=\(failure.time)\n"
        _ = fileSystem.writeText(text, to: file + ".new")
        _ = fileSystem.rename(file + ".new", to: file)
    }

    /// Forgets a failure (the pair built or was removed), and the
    /// directories it leaves empty.
    package func clear(_ module: String, _ version: String, _ kernel: String, _ arch: String) {
        let file = path(module, version, kernel, arch)
        guard fileSystem.existsNoFollow(file) else { return }
        fileSystem.removeFile(file)
        var dir = FileSystem.split(file).directory
        while dir.count > directory.count, fileSystem.removeDirectory(dir) {
            dir = FileSystem.split(dir).directory
        }
        _ = fileSystem.removeDirectory(directory)
    }

    /// Forgets every failure of a module version.
    package func clear(_ module: String, _ version: String) {
        fileSystem.removeTree("\(directory)/\(module)/\(version)")
        _ = fileSystem.removeDirectory("\(directory)/\(module)")
        _ = fileSystem.removeDirectory(directory)
    }

    /// Every recorded failure, sorted by module, version, kernel, arch.
    package func all() -> [AutoinstallFailure] {
        var result: [AutoinstallFailure] = []
        for m in fileSystem.entries(of: directory).sorted() {
            for v in fileSystem.entries(of: "\(directory)/\(m)").sorted() {
                for k in fileSystem.entries(of: "\(directory)/\(m)/\(v)").sorted() {
                    for a in fileSystem.entries(of: "\(directory)/\(m)/\(v)/\(k)").sorted() {
                        guard let text = fileSystem.readText(path(m, v, k, a)) else { continue }
                        var values: [String: String] = [:]
                        for line in text.split(separator: "\n") {
                            guard let eq = line.firstIndex(of: "=") else { continue }
                            values[String(line[..<eq])] = String(line[line.index(after: eq)...])
                        }
                        let log = values["log"].flatMap { $0.isEmpty ? nil : $0 }
                        result.append(AutoinstallFailure(module: m, version: v, kernel: k, arch: a,
                                                         status: Int32(values["status"] ?? "") ?? 1,
                                                         log: log, time: Int(values["time"] ?? "") ?? 0))
                    }
                }
            }
        }
        return result
    }

    /// Seconds since the epoch.
    static func now() -> Int { Int(time(nil)) }
}
