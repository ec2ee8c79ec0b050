/// Turns what the engine knows about one build into a ``BuildPlan``. It
/// reads nothing and runs nothing: every input is a value.
enum BuildPlanner {
    /// What a plan is made from.
    struct Inputs {
        /// The build.
        var target: BuildPlan.Target
        /// The evaluated dkms.conf with its overrides, for this kernel.
        var config: ModuleConfig
        /// `$dkms_tree/m/v/source`.
        var sourceDirectory: String
        /// `$dkms_tree/m/v/build`.
        var buildDirectory: String
        /// `/etc/dkms/MODULE` (script overrides).
        var overrideDirectory: String
        /// `/etc/dkms/MODULE/patches`, when it exists.
        var patchOverlay: String?
        /// The variables evaluated commands see.
        var shellVariables: [ShellVariable]
        /// The environment of the build's commands.
        var environment: [String: String]
        /// `parallel_jobs` as make's `-j` value (empty: unlimited).
        var parallelJobs: String
        /// Modules are signed.
        var sign: Bool
        /// The compressed-module suffix in force (empty: none).
        var compressedSuffix: String
        /// `compress_gzip_opts`, `compress_xz_opts`, `compress_zstd_opts`.
        var compressOptions: (gzip: String, xz: String, zstd: String)
        /// What dkms chose from the compiler the kernel names.
        var compilerChoice: [String: String] = [:]
    }

    /// The plan.
    static func plan(_ inputs: Inputs) -> BuildPlan {
        let config = inputs.config
        let modules = config.modules.indices.filter { config.isBuildable(moduleAt: $0) }.map { index in
            let entry = config.modules[index]
            return BuildPlan.CollectedModule(builtStem: entry.builtLocation + entry.builtName, destName: entry.destName,
                                             strip: entry.strip != "no")
        }
        func script(_ kind: ScriptKind) -> BuildPlan.Script? {
            let command = config.script(kind)
            return command.isEmpty ? nil : BuildPlan.Script(command: command, overrideDirectory: inputs.overrideDirectory)
        }
        return BuildPlan(
            target: inputs.target, sourceDirectory: inputs.sourceDirectory, buildDirectory: inputs.buildDirectory,
            patchOverlay: inputs.patchOverlay, patches: config.patches,
            preBuild: script(.preBuild), postBuild: script(.postBuild),
            makeCommand: rewriteMake(config.makeCommand, jobs: inputs.parallelJobs, kernel: inputs.target.kernel),
            shellVariables: inputs.shellVariables, environment: inputs.environment, modules: modules,
            stripTool: inputs.environment["CC"] == "clang" ? "llvm-strip" : "strip",
            sign: inputs.sign, compression: compression(inputs.compressedSuffix, options: inputs.compressOptions),
            compilerChoice: inputs.compilerChoice)
    }

    /// `${make_command/#make/make -jN KERNELRELEASE=K}`.
    static func rewriteMake(_ command: String, jobs: String, kernel: String) -> String {
        guard command.hasPrefix("make") else { return command }
        return "make -j\(jobs) KERNELRELEASE=\(kernel)" + command.dropFirst(4)
    }

    /// The compressor for a compressed-module suffix.
    static func compression(_ suffix: String, options: (gzip: String, xz: String, zstd: String)) -> BuildPlan.Compression? {
        switch suffix {
        case ".gz": return .init(suffix: suffix, tool: "gzip", options: ShellText.words(options.gzip))
        case ".xz": return .init(suffix: suffix, tool: "xz", options: ShellText.words(options.xz))
        case ".zst": return .init(suffix: suffix, tool: "zstd", options: ShellText.words(options.zstd))
        default: return nil
        }
    }
}
