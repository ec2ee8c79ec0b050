extension Engine {
    /// The kernel headers directory (`$install_tree/K/build`, or
    /// `--kernelsourcedir`).
    func kernelSourceDirectory(for kernel: String) -> String {
        settings.kernelSourceDirFromCommandLine ? settings.kernelSourceDir : "\(installTree)/\(kernel)/build"
    }

    /// The kernel config: `--config`, else `include/config/auto.conf`
    /// when it exists, else `.config`.
    func kernelConfigPath(sourceDirectory: String) -> String {
        if settings.kernelConfigFromCommandLine { return settings.kernelConfig }
        if let known = kernelConfigBySource[sourceDirectory] { return known }
        let auto = sourceDirectory + "/include/config/auto.conf"
        let path = fileSystem.exists(auto) ? auto : sourceDirectory + "/.config"
        kernelConfigBySource[sourceDirectory] = path
        return path
    }

    /// The kernel config of `kernel`.
    func kernelConfigPath(for kernel: String) -> String {
        kernelConfigPath(sourceDirectory: kernelSourceDirectory(for: kernel))
    }

    /// Upstream's `set_module_suffix`: looks for compressed modules in the
    /// kernel's module directory. The compressed suffix sticks once found.
    func updateModuleSuffix(for kernel: String) {
        let found = suffixesByKernel[kernel] ?? {
            var found: Set<String> = []
            _ = fileSystem.findFiles(under: "\(installTree)/\(kernel)/") { name in
                if name.hasSuffix(".ko.gz") { found.insert(".gz") }
                if name.hasSuffix(".ko.xz") { found.insert(".xz") }
                if name.hasSuffix(".ko.zst") { found.insert(".zst") }
                return false
            }
            suffixesByKernel[kernel] = found
            return found
        }()
        for suffix in [".gz", ".xz", ".zst"] where found.contains(suffix) { state.compressedSuffix = suffix }
    }

    /// `.ko` plus the compressed suffix in force.
    var moduleSuffix: String { ".ko" + state.compressedSuffix }

    /// `compressed_or_uncompressed DIR NAME`: `DIR/NAME.ko`, else the
    /// compressed name, else the empty string.
    func compressedOrUncompressed(_ directory: String, _ name: String) -> String {
        Self.compressedOrUncompressed(directory, name, suffix: state.compressedSuffix)
    }

    /// `compressed_or_uncompressed` for a given compressed suffix.
    static func compressedOrUncompressed(_ directory: String, _ name: String, suffix: String,
                                         exists: (String) -> Bool = FileSystem.exists) -> String {
        let plain = "\(directory)/\(name).ko"
        if exists(plain) { return plain }
        let compressed = plain + suffix
        if exists(compressed) { return compressed }
        return ""
    }

    /// `find_module TREE NAME`: files named `NAME.ko` or `NAME.ko<suffix>`.
    func findModule(under tree: String, named name: String) -> [String] {
        let plain = name + ".ko"
        let suffixed = name + moduleSuffix
        return fileSystem.findFiles(under: tree) { $0 == plain || $0 == suffixed }
    }

    /// Upstream's `prepare_kernel`: the headers must exist.
    func requireKernelHeaders(_ kernel: String) throws(DKMSError) {
        guard fileSystem.exists(kernelSourceDirectory(for: kernel) + "/include") else {
            throw DKMSError(.missingKernelHeaders,
                "Your kernel headers for kernel \(kernel) cannot be found at \(installTree)/\(kernel)/build or \(installTree)/\(kernel)/source.",
                "Please install your distribution's kernel headers package matching \(kernel), or use the --kernelsourcedir option to tell DKMS where it's located.")
        }
    }

    /// Whether the kernel was built with clang (`LLVM=1` is added to make).
    func kernelUsesClang(_ kernel: String) async -> Bool {
        if let known = clangByKernel[kernel] { return known }
        let answer = await detectClang(kernel)
        clangByKernel[kernel] = answer
        return answer
    }

    private func detectClang(_ kernel: String) async -> Bool {
        let source = kernelSourceDirectory(for: kernel)
        if fileSystem.exists(source + "/vmlinux") {
            let outcome = await run("readelf", ["-p", ".comment", source + "/vmlinux"], output: .capture, error: .mergeWithOutput)
            return outcome.outputText.contains("clang")
        }
        let config = kernelConfigForReading(kernel)
        guard fileSystem.exists(config) else { return false }
        return fileSystem.readText(config)?.contains("CONFIG_CC_IS_CLANG=y") ?? false
    }
}

extension Engine {
    /// `modinfo FILE` reduced to the version facts: read directly from the
    /// module's `.modinfo` section, or through modinfo for compressed files.
    func moduleVersionInfo(_ path: String, showErrors: Bool = true) async -> ModuleVersionInfo {
        var files: ModuleFileContents?
        return await moduleVersionInfo(path, showErrors: showErrors, files: &files)
    }

    /// ``moduleVersionInfo(_:showErrors:)`` reading the file through
    /// `files` when given (its bytes are then kept for a later comparison).
    func moduleVersionInfo(_ path: String, showErrors: Bool = true, files: inout ModuleFileContents?) async -> ModuleVersionInfo {
        if let fields = files != nil ? files!.modinfo(of: path) : ModuleInfoReader.read(path: path) {
            return ModuleVersionInfo(fields: fields)
        }
        // modinfo would only complain about a missing file.
        if !showErrors && !fileSystem.exists(path) { return ModuleVersionInfo(modinfoOutput: "") }
        let outcome = await run("modinfo", [path], output: .capture, error: showErrors ? .inherit : .discard)
        return ModuleVersionInfo(modinfoOutput: outcome.outputText)
    }
}
