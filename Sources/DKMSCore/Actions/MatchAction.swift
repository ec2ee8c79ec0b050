/// `dkms match`: installs for one kernel the module versions installed for
/// the `--templatekernel`.
struct MatchAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {
        try engine.requireRoot()
        try engine.requireOneKernel(Action.match.rawValue)
    }

    func run() async throws(DKMSError) -> RunResult {
        .exit(try await match())
    }


    /// Upstream's `run_match`: builds and installs for `-k` every module
    /// installed on `--templatekernel`.
    /// - Returns: the status of the last install attempted.
    func match() async throws(DKMSError) -> Int32 {
        let kernel = engine.firstKernel
        let arch = engine.firstArch
        let template = settings.templateKernel
        guard !template.isEmpty else {
            throw DKMSError(.notPermittedOrMissingArguments, "Invalid number of parameters passed.",
                            "Usage: match --templatekernel=<kernel-version> -k <kernel-version>",
                            "   or: match --templatekernel=<kernel-version> -k <kernel-version> <module>")
        }
        if template == kernel { throw DKMSError(.notFoundOrConflictingKernels, "The templatekernel and the specified kernel version are the same.") }
        var lines: [String] = []
        await StatusLines(engine: engine).forEachStatusLine(module: "", version: "", kernel: template, arch: arch) { line in
            if line.contains(": installed") { lines.append(line) }
        }
        if !engine.scope.module.isEmpty {
            guard fileSystem.isDirectory(engine.tree.moduleDirectory(engine.scope.module) + "/") else {
                throw DKMSError(.alreadyThereOrMissingFromTree, "The module: \(engine.scope.module) is not located in the DKMS tree.")
            }
            lines = lines.filter { $0.hasPrefix(engine.scope.module + "/") }
        }
        console.line()
        console.line("Matching modules in kernel: \(kernel) (\(arch))")
        console.line("to the configuration of kernel: \(template) (\(arch))")
        guard !lines.isEmpty else {
            console.line()
            console.line("There is nothing to be done for this match.")
            return 0
        }
        try engine.requireKernelHeaders(kernel)
        var status: Int32 = 0
        for line in lines {
            let module = line.prefix { $0 != "/" }
            let afterSlash = line.drop { $0 != "/" }.dropFirst()
            let version = String(afterSlash.prefix { $0 != "," })
            console.line("Module:  \(module)")
            console.line("Version: \(version)")
            if engine.tree.isBroken(String(module), version) {
                console.error("\(module)/\(version) is broken!", "Missing the source directory or the symbolic link pointing to it.",
                              "Manual intervention is required!")
                status = 0
                continue
            }
            _ = await BuildStep(engine: engine).buildIfNeeded(module: String(module), version: version, kernel: kernel, arch: arch)
            status = await InstallStep(engine: engine).installIfNeeded(module: String(module), version: version, kernel: kernel, arch: arch)
        }
        return status
    }
}
