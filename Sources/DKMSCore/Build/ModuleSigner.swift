/// Signs built modules with the MOK key, as upstream's `sign-file` call,
/// or, on a machine without the kernel's headers (which ship `sign-file`),
/// with openssl: the same CMS signature, appended with the same trailer, so
/// the result is byte for byte what `sign-file` makes.
struct ModuleSigner: Sendable, Hashable {
    /// `sign_file`.
    var signFile: String
    /// `sign_hash` (from `CONFIG_MODULE_SIG_HASH`).
    var hash: String
    /// `mok_signing_key`.
    var key: String
    /// `mok_certificate`.
    var certificate: String
    /// Sign with openssl instead of `sign_file` (there is none).
    var viaOpenSSL = false

    /// The kernel's marker after an appended signature.
    static let magic = Array("~Module signature appended~\n".utf8)

    /// Signs `path`, naming it `shownAs` in messages.
    func sign(_ path: String, shownAs: String, console: any Console, runner: any ProcessRunning,
              environment: [String: String], fileSystem: any FileSystemAccess = LocalFileSystem()) async {
        console.line("Signing module \(shownAs)")
        if viaOpenSSL {
            if let problem = await signWithOpenSSL(path, runner: runner, environment: environment, fileSystem: fileSystem) {
                console.warning("Failed to sign module '\(shownAs)'!", problem)
            }
            return
        }
        let outcome = await runner.run(ProcessSpec(signFile, [hash, key, certificate, path], environment: environment,
                                                   output: .capture, error: .mergeWithOutput))
        if outcome.status != 0 {
            var text = outcome.outputText
            while text.hasSuffix("\n") { text.removeLast() }
            console.warning("Failed to sign module '\(shownAs)'!", text)
        }
    }

    /// `openssl cms -sign` with `sign-file`'s options (detached, binary, no
    /// certificates, no attributes, no S/MIME capabilities), then the
    /// signature, its `module_signature` record (PKCS#7 id, length
    /// big-endian) and the marker appended to the module.
    /// - Returns: nil, or what went wrong.
    func signWithOpenSSL(_ path: String, runner: any ProcessRunning, environment: [String: String],
                         fileSystem: any FileSystemAccess) async -> String? {
        let signature = path + ".p7s"
        defer { fileSystem.removeFile(signature) }
        let outcome = await runner.run(ProcessSpec("openssl", [
            "cms", "-sign", "-in", path, "-signer", certificate, "-inkey", key, "-outform", "DER", "-out", signature,
            "-nocerts", "-noattr", "-binary", "-nosmimecap", "-md", hash,
        ], environment: environment, output: .capture, error: .mergeWithOutput))
        guard outcome.status == 0 else {
            var text = outcome.outputText
            while text.hasSuffix("\n") { text.removeLast() }
            return text.isEmpty ? "openssl exit status \(outcome.status)" : text
        }
        guard let module = fileSystem.readBytes(path), let cms = fileSystem.readBytes(signature), !cms.isEmpty else {
            return "the module or its signature cannot be read"
        }
        let length = UInt32(cms.count)
        let record: [UInt8] = [0, 0, 2, 0, 0, 0, 0, 0,
                               UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
        let mode = fileSystem.mode(of: path).map { $0 & 0o7777 } ?? 0o644
        guard fileSystem.writeBytesAtomically(module + cms + record + Self.magic, to: path, mode: mode) else {
            return "\(path) cannot be written"
        }
        return nil
    }
}
