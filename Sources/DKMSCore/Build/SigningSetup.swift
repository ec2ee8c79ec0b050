#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Signing configuration as upstream keeps it in shell variables.
struct SigningState {
    /// `sign_file`, `mok_signing_key`, `mok_certificate`, `try_sign_modules`
    /// after the last lazy framework read (nil: not read yet, so the
    /// environment's values apply).
    var values: [String: String]?
    /// `do_signing`.
    var enabled = false
    /// `sign_hash`.
    var hash = ""
    /// Modules are signed with openssl: the kernel has no headers here
    /// (they ship `sign-file`) and its modules come from the fleet.
    var viaOpenSSL = false
}

struct SigningSetup: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    static let signingNames = ["sign_file", "mok_signing_key", "mok_certificate", "try_sign_modules"]

    func signingValue(_ name: String) -> String {
        if let values = engine.scope.signing.values { return values[name] ?? "" }
        return settings.environment[name] ?? ""
    }

    func setSigningValue(_ name: String, _ value: String) {
        var values = engine.scope.signing.values ?? Dictionary(uniqueKeysWithValues: Self.signingNames.map { ($0, settings.environment[$0] ?? "") })
        values[name] = value
        engine.scope.signing.values = values
    }

    /// Re-reads the signing variables from framework.conf, as upstream
    /// does lazily each time it prepares signing.
    func readSigningFramework(kernel: String, arch: String, module: String, version: String) async {
        var globals = engine.shellGlobals(kernel: kernel, arch: arch, module: module, version: version)
        for name in Self.signingNames where !signingValue(name).isEmpty {
            globals.append((name, ShellArray(scalar: signingValue(name))))
        }
        guard let values = await FrameworkFiles.read(
            names: Self.signingNames, globals: globals, environment: engine.childEnvironment, runner: engine.runner) else { return }
        for name in Self.signingNames {
            setSigningValue(name, values.isSet(name) ? values[name].value : signingValue(name))
        }
    }

    /// Upstream's `prepare_signing`: decides whether modules are signed for
    /// this kernel and prints why or with what.
    func prepareSigning(kernel: String, arch: String, module: String, version: String) async {
        await readSigningFramework(kernel: kernel, arch: arch, module: module, version: version)
        engine.scope.signing.enabled = false
        engine.scope.signing.viaOpenSSL = false
        let policy = signingValue("try_sign_modules")
        if policy == "false" {
            console.line("Module signing is disabled by policy, modules won't be signed")
            return
        }
        if policy != "true" && ProcessFacts.runningInChroot() {
            console.line("Running in chroot, modules won't be signed")
            return
        }
        let configPath = kernels.configForReading(kernel)
        guard fileSystem.isRegularFile(configPath) else {
            console.line("Kernel config \(configPath) not found, modules won't be signed")
            return
        }
        guard let config = KernelConfigFile.load(configPath), let hash = config.unquoted("CONFIG_MODULE_SIG_HASH") else {
            console.line("The kernel is built without module signing facility, modules won't be signed")
            return
        }
        engine.scope.signing.hash = hash
        var signFile = signingValue("sign_file")
        if signFile.isEmpty {
            let d = settings.distribution
            let series = kernel.lastIndex(of: ".").map { String(kernel[..<$0]) } ?? kernel
            if d.hasPrefix("debian") {
                signFile = "/usr/lib/linux-kbuild-\(series)/scripts/sign-file"
            } else if d.hasPrefix("ubuntu") {
                signFile = commandPath("kmodsign") ?? ""
                if !fileSystem.isExecutable(signFile) { signFile = "/usr/src/linux-headers-\(kernel)/scripts/sign-file" }
            } else if d.hasPrefix("gentoo") {
                signFile = "/usr/src/linux-\(kernel)/scripts/sign-file"
            }
            if !fileSystem.isRegularFile(signFile) { signFile = "\(installTree)/\(kernel)/build/scripts/sign-file" }
            setSigningValue("sign_file", signFile)
        }
        console.line("Sign command: \(signFile)")
        guard fileSystem.isRegularFile(signFile), fileSystem.isExecutable(signFile) else {
            if case .success? = kernels.fleetIdentity(kernel: kernel, arch: arch), engine.commandExists("openssl") {
                console.line("Binary \(signFile) not found (the kernel headers are not installed): modules are signed with openssl")
                engine.scope.signing.viaOpenSSL = true
                if await prepareMOK(kernel: kernel) { engine.scope.signing.enabled = true }
                return
            }
            console.line("Binary \(signFile) not found, modules won't be signed")
            return
        }
        if await prepareMOK(kernel: kernel) { engine.scope.signing.enabled = true }
    }

    /// Upstream's `prepare_mok`: picks (and if needed creates) the signing
    /// key and certificate. Returns whether signing can proceed.
    func prepareMOK(kernel: String) async -> Bool {
        var key = signingValue("mok_signing_key")
        var certificate = signingValue("mok_certificate")
        let d = settings.distribution
        if key.isEmpty {
            if d.hasPrefix("ubuntu") {
                key = "/var/lib/shim-signed/mok/MOK.priv"
                certificate = "/var/lib/shim-signed/mok/MOK.der"
                if !fileSystem.isRegularFile(key) || !fileSystem.isRegularFile(certificate) {
                    guard engine.commandExists("update-secureboot-policy") else {
                        console.line("Binary update-secureboot-policy not found, modules won't be signed")
                        return false
                    }
                    if fileSystem.isRegularFile(certificate) { fileSystem.removeFile(certificate) }
                    console.line("Certificate or key are missing, generating them using update-secureboot-policy...")
                    var env = engine.childEnvironment
                    env["SHIM_NOTRIGGER"] = "y"
                    _ = await engine.runner.run(ProcessSpec("update-secureboot-policy", ["--new-key"], environment: env, output: .discard, error: .discard))
                    _ = await engine.run("update-secureboot-policy", ["--enroll-key"])
                }
            } else if d.hasPrefix("gentoo") {
                key = settings.environment["MODULES_SIGN_KEY"] ?? ""
                certificate = settings.environment["MODULES_SIGN_CERT"] ?? ""
                let makeConf = fileSystem.readText("/etc/portage/make.conf") ?? ""
                func portage(_ name: String) -> String {
                    for line in makeConf.split(separator: "\n") where line.hasPrefix(name + "=") {
                        return String(line.dropFirst(name.count + 1)).replacingOccurrences(of: "\"", with: "")
                    }
                    return ""
                }
                if key.isEmpty { key = portage("MODULES_SIGN_KEY") }
                if certificate.isEmpty { certificate = portage("MODULES_SIGN_CERT") }
                let configPath = kernels.configPath(for: kernel)
                if key.isEmpty, let config = KernelConfigFile.load(configPath) {
                    let relative = config.unquoted("CONFIG_MODULE_SIG_KEY") ?? ""
                    let base = kernels.sourceDirectory(for: kernel)
                    let path = relative.hasPrefix("/") ? relative : base + "/" + relative
                    key = fileSystem.canonicalPath(path) ?? path
                    certificate = key
                }
            }
        }
        if key.isEmpty { key = "/var/lib/dkms/mok.key" }
        setSigningValue("mok_signing_key", key)
        console.line("Signing key: \(key)")
        if certificate.isEmpty { certificate = "/var/lib/dkms/mok.pub" }
        setSigningValue("mok_certificate", certificate)
        console.line("Public certificate (MOK): \(certificate)")
        if !key.hasPrefix("pkcs11:") && (!fileSystem.isRegularFile(key) || !fileSystem.isRegularFile(certificate)) {
            console.line("Certificate or key are missing, generating self signed certificate for MOK...")
            guard engine.commandExists("openssl") else {
                console.line("openssl not found, can't generate key and certificate.")
                return false
            }
            _ = await engine.run("openssl", [
                "req", "-new", "-x509", "-nodes", "-days", "36500", "-subj", "/CN=DKMS module signing key",
                "-newkey", "rsa:2048", "-keyout", key, "-addext", "extendedKeyUsage=codeSigning",
                "-outform", "DER", "-out", certificate,
            ], output: .discard, error: .discard)
            if !fileSystem.isRegularFile(key) {
                console.line("Key file \(key) not found and can't be generated, modules won't be signed")
                return false
            }
        }
        if !fileSystem.isRegularFile(certificate) {
            console.line("Certificate file \(certificate) not found and can't be generated, modules won't be signed")
            return false
        }
        return true
    }

    /// `command -v NAME`.
    func commandPath(_ name: String) -> String? {
        SubprocessRunner.lookUp(name, in: engine.childEnvironment["PATH"])
    }


    /// The signer prepared for the current kernel, when modules are signed.
    var moduleSigner: ModuleSigner? {
        guard engine.scope.signing.enabled else { return nil }
        return ModuleSigner(signFile: signingValue("sign_file"), hash: engine.scope.signing.hash,
                            key: signingValue("mok_signing_key"), certificate: signingValue("mok_certificate"),
                            viaOpenSSL: engine.scope.signing.viaOpenSSL)
    }
}
