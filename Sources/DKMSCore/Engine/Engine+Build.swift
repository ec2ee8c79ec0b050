#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Engine {
    /// Upstream's `prepare_kernel_and_signing`: headers check and signing
    /// decision, once per kernel/arch in a shell.
    func prepareKernelAndSigning(kernel: String, arch: String, module: String, version: String) async throws(DKMSError) {
        if state.preparedKernel == "\(kernel)/\(arch)" { return }
        try requireKernelHeaders(kernel)
        await prepareSigning(kernel: kernel, arch: arch, module: module, version: version)
        state.preparedKernel = "\(kernel)/\(arch)"
        console.line()
    }

    /// `maybe_build_module`: builds unless already built (then `--force`
    /// unbuilds first, otherwise it says so and succeeds).
    func buildIfNeeded(module: String, version: String, kernel: String, arch: String) async -> Int32 {
        await subshell { () throws(DKMSError) -> Int32 in
            if tree.isBuilt(module, version, kernel, arch) {
                if state.force {
                    unbuildDirectory(module: module, version: version, kernel: kernel, arch: arch)
                } else {
                    console.line("Module \(module)/\(version) already built for kernel \(kernel) (\(arch)), skip. You may override by specifying --force.")
                    return 0
                }
            }
            try await build(module: module, version: version, kernel: kernel, arch: arch)
            return 0
        }
    }

    /// Upstream's `do_build`: adds the module if needed, builds it in a
    /// fresh copy of the source, and publishes the modules atomically in
    /// `m/v/K/A` (a temporary directory renamed into place).
    /// - Returns: the module and version built (a source tree given on the
    ///   command line names them only once it is added).
    @discardableResult
    func build(module: String, version: String, kernel: String, arch: String) async throws(DKMSError) -> (String, String) {
        guard !kernel.isEmpty, !arch.isEmpty else { throw DKMSError(16, "do_build: Empty $kernelver or $arch") }
        var module = module
        var version = version
        if !tree.isAdded(module, version) {
            settings.module = module
            settings.moduleVersion = version
            try await addModule(kernel: kernel, arch: arch)
            module = settings.module
            version = settings.moduleVersion
            console.line()
        }
        try refuseUnsafeModuleNames(module: module, version: version)
        let sourceDir = "\(dkmsTree)/\(module)/\(version)/source"
        let buildDir = "\(dkmsTree)/\(module)/\(version)/build"
        let kernelDir = "\(dkmsTree)/\(module)/\(version)/\(kernel)"
        let baseDir = "\(kernelDir)/\(arch)"
        let log = "\(buildDir)/make.log"
        if FileSystem.isDirectory(baseDir) {
            throw DKMSError(3, "This module/version has already been built on: \(kernel)",
                            "Directory \(baseDir) already exists. Use the dkms remove function before trying to build again.")
        }
        updateModuleSuffix(for: kernel)
        let config = try await readConfOrDie(kernel: kernel, arch: arch, module: module, version: version, strict: true)
        if config.buildExcluded {
            throw DKMSError.warning(77, "The \(baseDir)/dkms.conf",
                                    "for module \(module)/\(version) includes BUILD_EXCLUSIVE directives",
                                    "which do not match this kernel/arch/config for any modules.",
                                    "This indicates that it should not be built.")
        }
        if FileSystem.globEntries(of: sourceDir).count < 2 {
            throw DKMSError(8, "The directory \(sourceDir) does not appear to have module source located within it.",
                            "Build halted.")
        }
        try await prepareKernelAndSigning(kernel: kernel, arch: arch, module: module, version: version)
        await selectCompiler(kernel: kernel)
        await loadBuildEnvironment()
        try checkBuildDependencies(config, module: module, version: version, kernel: kernel, arch: arch)

        FileSystem.removeTree(buildDir)
        if !FileSystem.copyTree(from: (FileSystem.canonicalPath(sourceDir) ?? sourceDir), to: buildDir) {
            FileSystem.removeTree(buildDir)
            _ = await run("cp", ["--reflink=auto", "-a", sourceDir + "/", buildDir])
        }
        let overlay = "\(etcDirectory)/\(module)/patches"
        if FileSystem.isDirectory(overlay) {
            FileSystem.makeDirectories(buildDir + "/patches")
            _ = await run("cp", ["--reflink=auto", "-a", overlay + "/.", buildDir + "/patches/"])
        }
        FileSystem.writeText("DKMS (\(DKMSVersion.releaseString)) make.log for \(module)/\(version) for kernel \(kernel) (\(arch))\n"
                             + Self.dateText() + "\n", to: log, append: true)
        // Whatever happens next, a copy of this build's log is kept per kernel.
        defer { retainLog(FileSystem.exists(log) ? log : baseDir + "/log/make.log", module: module, version: version, kernel: kernel, arch: arch) }

        for patch in config.patches {
            if ("patches/" + patch).contains("/../") {
                throw DKMSError(5, "Patch \(patch) as specified in dkms.conf contains '..' path component.")
            }
            if !FileSystem.exists("\(buildDir)/patches/\(patch)") {
                throw DKMSError(5, "Patch \(patch) as specified in dkms.conf cannot be", "found in \(buildDir)/patches/.")
            }
            let command = "patch -p1 < ./patches/\(patch)"
            let status = await invokeCommand(command, description: "Applying patch \(patch)", log: log, background: true) { target in
                await evaluate(command, kernel: kernel, arch: arch, module: module, version: version,
                               workingDirectory: buildDir, output: target.output, error: target.error).status
            }
            if status != 0 {
                throw DKMSError(6, "Application of patch \(patch) failed.", "Consult \(log) for more information.")
            }
        }

        try await runScript(.preBuild, config.script(.preBuild), module: module, version: version,
                            kernel: kernel, arch: arch, log: log)

        let makeCommand = Self.rewriteMake(config.makeCommand, jobs: settings.parallelJobs, kernel: kernel)
        let makeStatus = await invokeCommand(makeCommand, description: "Building module(s)", log: log, background: true) { target in
            await evaluate(makeCommand, kernel: kernel, arch: arch, module: module, version: version,
                           workingDirectory: buildDir, output: target.output, error: target.error).status
        }
        if makeStatus != 0 {
            throw DKMSError(10, "Bad return status for module build on kernel: \(kernel) (\(arch))",
                            "Consult \(log) for more information.")
        }

        let buildable = config.modules.indices.filter { config.isBuildable(moduleAt: $0) }
        for index in buildable {
            let entry = config.modules[index]
            let relative = entry.builtLocation + entry.builtName + ".ko"
            if !FileSystem.exists(relative.hasPrefix("/") ? relative : "\(buildDir)/\(relative)") {
                throw DKMSError(7, "Build of \(relative) failed for: \(kernel) (\(arch))",
                                "Make sure the name and location of the generated module are correct,",
                                "or consult \(log) for more information.")
            }
        }

        FileSystem.makeDirectories(kernelDir)
        guard let temporary = FileSystem.makeTemporaryDirectory(template: "\(kernelDir)/.tmp_\(arch)_XXXXXX") else {
            throw DKMSError(1, "Unable to make temporary directory.")
        }
        FileSystem.makeDirectories(temporary + "/log")
        FileSystem.makeDirectories(temporary + "/module")
        if FileSystem.isRegularFile(buildDir + "/Module.symvers") {
            FileSystem.copyFileAtomically(from: buildDir + "/Module.symvers", to: temporary + "/module/Module.symvers")
        }
        for index in buildable {
            let entry = config.modules[index]
            let stem = "\(buildDir)/\(entry.builtLocation)\(entry.builtName)"
            let built = stem + ".ko"
            var compressed = stem + moduleSuffix
            guard FileSystem.isRegularFile(built) else {
                console.warning("\(built) has disappeared")
                continue
            }
            if entry.strip != "no" {
                let tool = childEnvironment["CC"] == "clang" ? "llvm-strip" : "strip"
                _ = await run(tool, ["-g", built], workingDirectory: buildDir)
            }
            if state.signing.enabled { await signModule(built) }
            if let (tool, options) = compressor() {
                let status = await run(tool, ShellText.words(options) + ["-f", built], workingDirectory: buildDir).status
                if status != 0 { compressed = "" }
            }
            if !compressed.isEmpty {
                FileSystem.copyFileAtomically(from: compressed, to: "\(temporary)/module/\(entry.destName)\(moduleSuffix)")
            } else {
                FileSystem.copyFileAtomically(from: built, to: "\(temporary)/module/\(entry.destName).ko")
            }
        }
        for index in buildable {
            let name = config.modules[index].destName
            let found = compressedOrUncompressed(temporary + "/module", name)
            if found.isEmpty || !FileSystem.isRegularFile(found) {
                throw DKMSError(7, "Missing module '\(name)' in \(temporary)/module")
            }
        }
        FileSystem.setMode(0o755, of: temporary)
        if !FileSystem.rename(temporary, to: baseDir) {
            throw DKMSError(7, "do_build: final mv failed (1)")
        }

        try await runScript(.postBuild, config.script(.postBuild), module: module, version: version,
                            kernel: kernel, arch: arch, log: log)
        FileSystem.rename(log, to: baseDir + "/log/make.log")
        FileSystem.removeTree(buildDir)

        if config.rebuildOnDependencyChange && !state.force {
            for dependency in config.buildDepends {
                let versions = tree.status(module: dependency, kernel: kernel, arch: arch).map(\.version)
                if let latest = VersionSort.sorted(versions).last, !latest.isEmpty {
                    FileSystem.writeText(latest + "\n", to: "\(baseDir)/.dep_\(dependency)")
                }
            }
        }
        return (module, version)
    }

    /// Where the log of the last build of a module version for a kernel is
    /// kept, successful or not: `$dkms_tree/.logs/MODULE/VERSION/KERNEL/ARCH/make.log`.
    public func retainedLogPath(module: String, version: String, kernel: String, arch: String) -> String {
        "\(dkmsTree)/.logs/\(module)/\(version)/\(kernel)/\(arch)/make.log"
    }

    func retainLog(_ source: String, module: String, version: String, kernel: String, arch: String) {
        let target = retainedLogPath(module: module, version: version, kernel: kernel, arch: arch)
        guard FileSystem.isRegularFile(source), FileSystem.makeDirectories(FileSystem.split(target).directory) else { return }
        FileSystem.copyFileAtomically(from: source, to: target)
    }

    /// `${make_command/#make/make -jN KERNELRELEASE=K}`.
    static func rewriteMake(_ command: String, jobs: String, kernel: String) -> String {
        guard command.hasPrefix("make") else { return command }
        return "make -j\(jobs) KERNELRELEASE=\(kernel)" + command.dropFirst(4)
    }

    /// The compressor and options for the compressed suffix in force.
    func compressor() -> (String, String)? {
        switch state.compressedSuffix {
        case ".gz": return ("gzip", settings.compressGzipOptions)
        case ".xz": return ("xz", settings.compressXzOptions)
        case ".zst": return ("zstd", settings.compressZstdOptions)
        default: return nil
        }
    }

    /// Chooses the compiler (and linker) the kernel was built with, as
    /// upstream does, and exports it to the build.
    func selectCompiler(kernel: String) async {
        let source = kernelSourceDirectory(for: kernel)
        let variables = source + "/.kernelvariables"
        if FileSystem.isRegularFile(variables) {
            let makefile = "show-%:\n\t@echo $($*)\ninclude \(variables)\n"
            let outcome = await runner.run(ProcessSpec(
                Shell.bash, ["-c", "printf '%s' \"$1\" | make -f - show-CC", "dkms", makefile],
                environment: childEnvironment, output: .capture, error: .inherit))
            var cc = outcome.outputText
            while cc.hasSuffix("\n") { cc.removeLast() }
            state.environment["CC"] = cc
        } else {
            state.environment.removeValue(forKey: "CC")
        }
        let configPath = kernelConfigPath(sourceDirectory: source)
        guard FileSystem.exists(configPath), let text = FileSystem.readText(configPath) else { return }
        let versionLines = text.contains("CONFIG_CC_VERSION_TEXT=")
            ? text.split(separator: "\n").filter { $0.hasPrefix("CONFIG_CC_VERSION_TEXT=") } : []
        for line in versionLines {
            var rest = line.dropFirst("CONFIG_CC_VERSION_TEXT=".count)
            while rest.first == "\"" { rest = rest.dropFirst() }
            let word = rest.prefix { $0 != "\"" && $0 != " " }
            let after = rest.dropFirst(word.count)
            if after.first == " " && commandExists(String(word)) {
                state.environment["CC"] = String(word)
                state.environment["KERNEL_CC"] = String(word)
            }
        }
        if text.contains("CONFIG_CC_IS_CLANG=y") && commandExists("clang") {
            state.environment["CC"] = "clang"
            state.environment["KERNEL_CC"] = "clang"
        }
        if text.contains("CONFIG_LD_IS_LLD=y") && commandExists("ld.lld") {
            state.environment["LD"] = "ld.lld"
            state.environment["KERNEL_LD"] = "ld.lld"
        }
    }

    /// Sources framework.conf's `build_environment` file and exports what it exports.
    func loadBuildEnvironment() async {
        let file = settings.buildEnvironment
        guard !file.isEmpty, FileSystem.isRegularFile(file) else { return }
        let outcome = await runner.run(ProcessSpec(
            Shell.bash, ["-c", "source \"$1\" &>/dev/null; env -0", "dkms", file],
            environment: childEnvironment, output: .capture, error: .discard))
        var environment: [String: String] = [:]
        for entry in outcome.standardOutput.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        for name in ["_", "SHLVL", "PWD", "OLDPWD"] { environment[name] = childEnvironment[name] }
        state.environment = environment
    }

    /// Refuses to build when a BUILD_DEPENDS module is not installed for
    /// the kernel (exit 13), unless `--force`.
    func checkBuildDependencies(_ config: ModuleConfig, module: String, version: String, kernel: String, arch: String) throws(DKMSError) {
        var missing = ""
        for dependency in config.buildDepends {
            let installed = tree.status(module: dependency, kernel: kernel, arch: arch).contains {
                if case .built(_, _, _, _, .installed) = $0 { return true }
                return false
            }
            if !installed { missing += " " + dependency }
        }
        guard !missing.isEmpty else { return }
        if state.force {
            console.warning("Trying to build module \(module)/\(version) for kernel \(kernel) (\(arch)) despite of missing BUILD_DEPENDS:\(missing).")
        } else {
            throw DKMSError(13, "Aborting build of module \(module)/\(version) for kernel \(kernel) (\(arch)) due to missing BUILD_DEPENDS:\(missing).",
                            "You may override by specifying --force.")
        }
    }
}

/// The version dkms reports.
public enum DKMSVersion {
    /// `dkms-3.4.3`, the upstream release we are compatible with.
    public static let releaseString = "dkms-3.4.3"
}
