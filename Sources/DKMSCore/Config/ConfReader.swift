struct ConfReader: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// Upstream's `read_conf` (and `read_conf_strict` when `strict`):
    /// evaluates dkms.conf and the /etc/dkms overrides for one module,
    /// version, kernel and arch, prints the `DIRECTIVE:` lines and every
    /// problem, and returns the configuration with whether it is valid.
    ///
    /// A repeated read of the same file for the same module, version,
    /// kernel and arch is answered from the previous result, as upstream
    /// does, so its output appears only once.
    /// - Parameters:
    ///   - file: an explicit dkms.conf (upstream's third argument).
    ///   - strict: apply `read_conf_strict`'s extra checks.
    ///   - quiet: hide standard error (upstream's `2>/dev/null`).
    /// - Throws: ``DKMSError`` 4 when the file cannot be read.
    func readConf(
        kernel: String, arch: String, module: String, version: String, file: String? = nil, strict: Bool = false,
        quiet: Bool = false
    ) async throws(DKMSError) -> (config: ModuleConfig, valid: Bool) {
        var confFile = tree.confFile(module, version)
        if !settings.conf.isEmpty { confFile = settings.conf }
        if let file, !file.isEmpty { confFile = file }
        guard fileSystem.isReadable(confFile) else {
            throw DKMSError(.notFoundOrConflictingKernels, "Could not locate dkms.conf file.", "File: \(confFile) does not exist.")
        }
        // Upstream keys its cache by `readlink -f` of the file; the file's
        // identity (device and inode) names the same file without resolving
        // every path component.
        let key = "\(module)/\(version)/\(kernel)/\(arch)|" + (fileSystem.identity(of: confFile) ?? confFile)
        var config: ModuleConfig
        var valid = true
        if let cached = engine.scope.lastConf, cached.key == key {
            config = cached.config
        } else {
            let silent = engine.scope.silenceNextConfRead
            engine.scope.silenceNextConfRead = false
            let quiet = quiet || silent
            let etc = engine.etcDirectory
            // The overrides in /etc/dkms, by name (listed once per command).
            let overrides = [
                "\(module).conf",
                "\(module)-\(version).conf",
                "\(module)-\(version)-\(kernel).conf",
                "\(module)-\(version)-\(kernel)-\(arch).conf",
                "\(module)--\(kernel).conf",
                "\(module)--\(kernel)-\(arch).conf",
            ].compactMap { name -> String? in
                guard !engine.etcEntries.isEmpty else { return nil }
                let path = "\(etc)/\(name)"
                // A name with a slash is looked up by its last component.
                let entry = name.utf8.contains(UInt8(ascii: "/")) ? FileSystem.split(path).name : name
                return engine.etcEntries.contains(entry) && fileSystem.exists(path) ? path : nil
            }
            var variables = await evaluateConf(.init(
                globals: engine.shellGlobals(kernel: kernel, arch: arch, module: module, version: version),
                environment: engine.childEnvironment,
                files: [confFile] + overrides,
                names: ModuleConfig.variableNames, unsetFirst: true, deprecationWarnings: strict && !silent,
                errorsShown: !quiet), quiet: quiet)
            for directive in settings.directives {
                let name = directive.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? directive
                let value = directive.contains("=") ? String(directive[directive.index(after: directive.firstIndex(of: "=")!)...]) : directive
                if Self.isShellName(name) {
                    variables[name].elements[0] = value
                    engine.scope.environment[name] = value
                } else if !silent {
                    // Upstream's `export "$name"="$value"` (dkms.in line 653) fails.
                    engine.console.errorLine("\(ShellSourcer.programName): line 653: export: `\(name)=\(value)': not a valid identifier")
                }
                if !silent { engine.console.line("DIRECTIVE: \(name)=\"\(value)\"") }
            }
            engine.scope.packageName = variables["PACKAGE_NAME"].value
            let source = kernels.sourceDirectory(for: kernel)
            let context = ModuleConfig.Context(
                kernel: kernel, arch: arch, module: module, moduleVersion: version, dkmsTree: engine.dkmsTree,
                kernelSourceDir: source, kernelConfigPath: kernels.configForReading(kernel),
                destination: settings.destinationPolicy, kernelUsesClang: await kernels.usesClang(kernel, environment: engine.childEnvironment))
            let (interpreted, problems) = ModuleConfig.interpret(variables, context: context)
            config = interpreted
            if !quiet { for line in problems { engine.console.errorLine(line) } }
            valid = problems.isEmpty
            if valid {
                engine.scope.lastConf = (key, config)
            }
        }
        if strict && valid {
            let (lines, failed) = config.strictProblems()
            for line in lines { engine.console.errorLine(line) }
            valid = !failed
        }
        return (config, valid)
    }

    /// Evaluates dkms.conf and its overrides, once per command for the same
    /// inputs: a later evaluation with the same variables, environment and
    /// unchanged files (by identity, size and time), or of the same
    /// unchanged plain files (``ConfEvaluations``), takes the first one's
    /// result and prints what it printed, so its output is the same as a
    /// new evaluation's. (Upstream's own cache, `last_mvka`, is lost when
    /// its subshells end; autoinstall, build and install each read a
    /// module's dkms.conf again, which for confs that source the kernel's
    /// `.config` costs more than the rest of a cached build.)
    func evaluateConf(_ request: ShellSourcer.Request, quiet: Bool) async -> ShellVariables {
        let stamps = ConfEvaluations.fileStamps(request.files, fileSystem: fileSystem)
        let sourcer = ShellSourcer(runner: engine.runner, fileSystem: fileSystem)
        var needsBash = false
        if let plainKey = ConfEvaluations.plainKey(request, stamps: stamps, quiet: quiet) {
            switch engine.shared.confEvaluations.plain(plainKey) {
            case .some(.some(let known)):
                known.output.flush(to: engine.console)
                return known.variables
            case .some(.none):
                needsBash = true
            case .none:
                let output = BufferedConsole()
                guard let variables = sourcer.evaluatePlain(request, console: quiet ? nil : output) else {
                    engine.shared.confEvaluations.recordPlain(plainKey, nil)
                    needsBash = true
                    break
                }
                output.flush(to: engine.console)
                engine.shared.confEvaluations.recordPlain(plainKey, .init(variables: variables, output: output))
                return variables
            }
        }
        let key = ConfEvaluations.fullKey(request, stamps: stamps, quiet: quiet)
        if let known = engine.shared.confEvaluations.evaluation(key) {
            known.output.flush(to: engine.console)
            return known.variables
        }
        let output = BufferedConsole()
        let variables = needsBash
            ? await sourcer.evaluateWithBash(request, console: quiet ? nil : output)
            : await sourcer.evaluate(request, console: quiet ? nil : output)
        output.flush(to: engine.console)
        engine.shared.confEvaluations.record(key, .init(variables: variables, output: output))
        return variables
    }

    /// Whether bash accepts the word as a variable name.
    static func isShellName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    /// `read_conf_or_die` / `read_conf_strict_or_die`: exit 8 on a bad file.
    func readConfOrDie(
        kernel: String, arch: String, module: String, version: String, file: String? = nil, strict: Bool = false
    ) async throws(DKMSError) -> ModuleConfig {
        let (config, valid) = try await readConf(
            kernel: kernel, arch: arch, module: module, version: version, file: file, strict: strict)
        guard valid else {
            let shown = (file?.isEmpty == false) ? file! : settings.conf
            throw DKMSError(.badConfOrNoSource, "Bad conf file.", "File: \(shown) does not represent a valid dkms.conf file.")
        }
        return config
    }
}
