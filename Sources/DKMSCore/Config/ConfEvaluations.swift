#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The dkms.conf evaluations of one command, kept by their inputs so that a
/// repeated evaluation takes the first one's variables and replays what it
/// printed (``ConfReader/evaluateConf(_:quiet:)``).
///
/// Two tables:
/// - plain evaluations (files without bash syntax, read by
///   ``ShellSourcer/evaluatePlain(_:console:)``) by the files alone: with
///   the variables unset first, such files give the same variables whatever
///   the kernel, arch or environment, so `status` parses a module's
///   dkms.conf once for all its kernels instead of once per line;
/// - every other evaluation by all its inputs (files, variables,
///   environment, flags).
///
/// A file is named by its path and what `stat` says of it (device, inode,
/// size, modification time), so a file changed during the command is read
/// again.
struct ConfEvaluations {
    /// One evaluation: its variables and what it printed.
    struct Result {
        var variables: ShellVariables
        var output: BufferedConsole
    }

    /// Plain evaluations by files and flags; nil when the files need bash.
    private var plainByFiles: [String: Result?] = [:]
    /// Evaluations by all their inputs.
    private var byInputs: [String: Result] = [:]

    /// The files of a request as the keys name them: each path with its
    /// stamp (identity, size, modification time), or `-` when missing.
    static func fileStamps(_ files: [String], fileSystem: any FileSystemAccess) -> [String] {
        files.map { path in "\(path)\u{1}" + (fileSystem.fileStamp(of: path) ?? "-") }
    }

    /// The key of a plain evaluation, or nil when the request's result may
    /// depend on more than its files (variables not unset first, or a
    /// `DKMS_DIRECTIVE*` in the environment, which only bash applies).
    static func plainKey(_ request: ShellSourcer.Request, stamps: [String], quiet: Bool) -> String? {
        guard request.unsetFirst, !request.environment.keys.contains(where: { $0.hasPrefix("DKMS_DIRECTIVE") }) else {
            return nil
        }
        return (stamps + [request.names.joined(separator: " "), "\(request.deprecationWarnings) \(quiet)"])
            .joined(separator: "\u{0}")
    }

    /// The key of any evaluation: every input.
    static func fullKey(_ request: ShellSourcer.Request, stamps: [String], quiet: Bool) -> String {
        var key = stamps
        key += request.globals.map { "\($0.name)=\($0.value.elements.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" })" }
        key += request.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        key += [request.names.joined(separator: " "), "\(request.unsetFirst) \(request.deprecationWarnings) \(request.errorsShown) \(quiet)"]
        return key.joined(separator: "\u{0}")
    }

    /// A plain evaluation: `.some(result)`, `.some(nil)` when the files were
    /// found to need bash, nil when not evaluated yet.
    func plain(_ key: String) -> Result?? { plainByFiles[key] }

    /// Records a plain evaluation (nil: the files need bash).
    mutating func recordPlain(_ key: String, _ result: Result?) { plainByFiles[key] = .some(result) }

    /// An evaluation by all its inputs.
    func evaluation(_ key: String) -> Result? { byInputs[key] }

    /// Records an evaluation by all its inputs.
    mutating func record(_ key: String, _ result: Result) { byInputs[key] = result }
}
