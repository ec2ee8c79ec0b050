/// Secure Boot, explained (upstream #429, #361): after a transaction that
/// installed modules, when the machine boots with Secure Boot on
/// (`mokutil --sb-state`) and the certificate dkms signs with is not
/// enrolled (`mokutil --test-key`), dkms says on stderr that the kernel
/// will refuse the modules, the exact command that enrolls the key, and
/// what the next boot will ask. Nothing is prompted or done. Without
/// mokutil, without EFI variables (mokutil then reports no Secure Boot
/// state), with Secure Boot off, with the key enrolled, or with signing
/// turned off (`try_sign_modules=false`), nothing is printed.
enum SecureBootState: Equatable {
    case enabled, disabled, unknown

    /// Reads `mokutil --sb-state` output.
    static func parse(_ text: String) -> SecureBootState {
        if text.contains("SecureBoot enabled") { return .enabled }
        if text.contains("SecureBoot disabled") { return .disabled }
        return .unknown
    }
}

/// What `mokutil --test-key CERT` says about a certificate.
enum KeyEnrollment: Equatable {
    case enrolled, pending, notEnrolled, unknown

    static func parse(_ text: String) -> KeyEnrollment {
        if text.contains("is already enrolled") { return .enrolled }
        if text.contains("already in the enrollment request") { return .pending }
        if text.contains("is not enrolled") { return .notEnrolled }
        return .unknown
    }
}

struct SecureBootNotice: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// The certificate dkms signs modules with (`mok_certificate`, as
    /// signing resolves it).
    func signingCertificate() async -> String {
        await SigningSetup(engine: engine).readSigningFramework(kernel: engine.firstKernel, arch: engine.firstArch, module: engine.scope.module, version: engine.scope.version)
        let configured = SigningSetup(engine: engine).signingValue("mok_certificate")
        if !configured.isEmpty { return configured }
        if settings.distribution.hasPrefix("ubuntu") { return "/var/lib/shim-signed/mok/MOK.der" }
        return "/var/lib/dkms/mok.pub"
    }

    /// Prints the explanation when Secure Boot is on and the key is not
    /// enrolled (see the type's documentation). It works in a subshell: reading the signing configuration leaves
    /// nothing in the scope.
    func explainSecureBoot() async {
        guard engine.commandExists("mokutil") else { return }
        await engine.inSubshell { shell in await SecureBootNotice(engine: shell).explainSecureBootInSubshell() }
    }

    private func explainSecureBootInSubshell() async {
        guard SigningSetup(engine: engine).signingValue("try_sign_modules") != "false" else { return }
        let certificate = await signingCertificate()
        guard SigningSetup(engine: engine).signingValue("try_sign_modules") != "false", fileSystem.isRegularFile(certificate) else { return }
        let sbState = await engine.run("mokutil", ["--sb-state"], output: .capture, error: .mergeWithOutput)
        guard SecureBootState.parse(sbState.outputText) == .enabled else { return }
        let test = await engine.run("mokutil", ["--test-key", certificate], output: .capture, error: .mergeWithOutput)
        switch KeyEnrollment.parse(test.outputText) {
        case .enrolled, .unknown:
            return
        case .pending:
            console.errorLine("dkms: Secure Boot is enabled and the key dkms signs modules with (\(certificate)) is queued for enrollment.")
            console.errorLine("dkms: At the next boot the MOK manager asks to enroll it: choose \"Enroll MOK\", \"Continue\", \"Yes\", type the one-time password given to mokutil --import, then \"Reboot\". Until then the kernel refuses these modules.")
        case .notEnrolled:
            console.errorLine("dkms: Secure Boot is enabled and the key dkms signs modules with (\(certificate)) is not enrolled: the kernel will refuse to load these modules.")
            console.errorLine("dkms: To enroll it, run: mokutil --import \(certificate)")
            console.errorLine("dkms: mokutil asks for a one-time password. At the next boot the MOK manager (shim's blue screen) asks to enroll the key: choose \"Enroll MOK\", \"Continue\", \"Yes\", type that password, then \"Reboot\".")
        }
    }
}

extension SecureBootNotice {
    /// How the installed files of one entry are signed (nil when none can
    /// be read). Compressed files are read through their decompressor.
    func signatureFacts(_ paths: [String]) async -> StatusEntry.Signature? {
        var signatures: [ModuleSignature?] = []
        for path in paths {
            var bytes: [UInt8]?
            let decompressor = path.hasSuffix(".gz") ? "gzip" : path.hasSuffix(".xz") ? "xz" : path.hasSuffix(".zst") ? "zstd" : nil
            if let decompressor {
                let outcome = await engine.run(decompressor, ["-dc", path], output: .capture, error: .discard)
                if outcome.status == 0 { bytes = outcome.standardOutput }
            } else {
                bytes = fileSystem.readBytes(path)
            }
            guard let bytes else { return nil }
            signatures.append(ModuleSignature.parse(bytes))
        }
        guard !signatures.isEmpty else { return nil }
        let first = signatures.compactMap { $0 }.first
        return StatusEntry.Signature(signed: signatures.allSatisfy { $0 != nil }, signer: first?.signer, keyID: first?.keyID)
    }
}
