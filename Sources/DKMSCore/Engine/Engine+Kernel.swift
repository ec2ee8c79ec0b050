extension Engine {
    /// Upstream's `set_module_suffix`: looks for compressed modules in the
    /// kernel's module directory. The compressed suffix sticks once found.
    func updateModuleSuffix(for kernel: String) {
        let found = kernels.compressedSuffixes(for: kernel)
        for suffix in [".gz", ".xz", ".zst"] where found.contains(suffix) { scope.compressedSuffix = suffix }
    }

    /// `.ko` plus the compressed suffix in force.
    var moduleSuffix: String { ".ko" + scope.compressedSuffix }

    /// `compressed_or_uncompressed DIR NAME`: `DIR/NAME.ko`, else the
    /// compressed name, else the empty string.
    func compressedOrUncompressed(_ directory: String, _ name: String) -> String {
        Self.compressedOrUncompressed(directory, name, suffix: scope.compressedSuffix, exists: fileSystem.exists)
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
        guard kernels.hasHeaders(kernel) else {
            throw DKMSError(.missingKernelHeaders,
                "Your kernel headers for kernel \(kernel) cannot be found at \(installTree)/\(kernel)/build or \(installTree)/\(kernel)/source.",
                "Please install your distribution's kernel headers package matching \(kernel), or use the --kernelsourcedir option to tell DKMS where it's located.")
        }
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
