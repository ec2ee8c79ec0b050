#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Upstream's checks before an action changes anything, and the tree and
/// kernels they look at.
extension Engine {
    var tree: DKMSTree {
        if let cached = cachedTree, cached.root == dkmsTree, cached.sourceTree == sourceTree { return cached }
        let fresh = DKMSTree(root: dkmsTree, sourceTree: sourceTree, fileSystem: fileSystem)
        cachedTree = fresh
        return fresh
    }

    /// The first kernel and arch on the command line (upstream's
    /// `$kernelver` and `$arch` outside per-kernel loops).
    var firstKernel: String { settings.kernels.first ?? "" }
    var firstArch: String { settings.arches.first ?? "" }

    /// `check_module_args`.
    func requireModuleArguments(_ action: String) throws(DKMSError) {
        guard scope.module.isEmpty || scope.version.isEmpty else { return }
        throw DKMSError(.notPermittedOrMissingArguments, "Arguments <module> and <module-version> are not specified.",
                        "Usage: \(action) <module>/<module-version> or",
                        "       \(action) -m <module>/<module-version> or",
                        "       \(action) -m <module> -v <module-version>")
    }

    /// `check_module_args`, `module_is_broken_and_die` and
    /// `module_is_added_or_die`, in that order: what an action on one
    /// added module version checks first.
    func requireAddedVersion(for action: Action) throws(DKMSError) {
        try requireModuleArguments(action.rawValue)
        try refuseBroken()
        try requireAdded()
    }

    /// `check_root`.
    func requireRoot() throws(DKMSError) {
        guard getuid() == 0 else { throw DKMSError(.notPermittedOrMissingArguments, "You must be root to use this command.") }
    }

    /// `check_rw_dkms_tree`.
    func requireWritableTree() throws(DKMSError) {
        guard fileSystem.isWritable(dkmsTree) else { throw DKMSError(.notPermittedOrMissingArguments, "No write access to DKMS tree at \(dkmsTree)") }
    }

    /// The checks upstream makes right after parsing the command line.
    func validateCommandLine() throws(DKMSError) {
        if settings.binariesOnly && settings.sourceOnly {
            throw DKMSError(.badConfOrNoSource, "You have specified both --binaries-only and --source-only.", "You cannot do this.")
        }
        if settings.kernels.count != settings.arches.count && settings.arches.count > 1 {
            throw DKMSError(.notPermittedOrMissingArguments, "If more than one arch is specified on the command line, then there",
                            "must be an equal number of kernel versions also specified (1:1 relationship).")
        }
        if !settings.kernels.isEmpty && settings.all {
            throw DKMSError(.notFoundOrConflictingKernels, "You cannot specify a kernel version and also specify", "--all on the command line.")
        }
        if !settings.arches.isEmpty && settings.all {
            throw DKMSError(.alreadyThereOrMissingFromTree, "You cannot specify an arch and also specify", "--all on the command line.")
        }
    }

    /// Not in upstream: refuses a module name or version that is not one
    /// path component (`.`, `..`, with `/`, not UTF-8) before the tree is
    /// written or deleted under it. Called where upstream's own checks have
    /// passed and it would go on to touch the tree (its messages for the
    /// harmless cases, such as a missing source directory, stay).
    func refuseUnsafeModuleNames(module: String, version: String) throws(DKMSError) {
        for (what, value) in [("module name", module), ("module version", version)] {
            if let problem = ModuleConfig.pathComponentProblem(value) {
                throw DKMSError(.notPermittedOrMissingArguments, "Invalid \(what) '\(value)': \(problem).")
            }
        }
    }

    /// `check_all_is_banned`.
    func banAll(_ action: String) throws(DKMSError) {
        if settings.all { throw DKMSError(.refusedPatchOrAlreadyInstalled, "The action \(action) does not support the --all parameter.") }
    }

    /// `have_one_kernel`.
    func requireOneKernel(_ action: String) throws(DKMSError) {
        try banAll(action)
        guard settings.kernels.count == 1 else {
            if action.hasPrefix("kernel_") {
                throw DKMSError(.missingConfOrOneKernelOnly, "The action \(action) requires exactly one kernel version parameter on the command line.")
            }
            throw DKMSError(.missingConfOrOneKernelOnly, "The action \(action) does not support multiple kernel version parameters on the command line.")
        }
    }

    /// `have_one_kernel`, except that `--all-kernels` (not in upstream)
    /// names every kernel with headers instead.
    func requireOneKernelUnlessAllKernels(_ action: String) throws(DKMSError) {
        guard settings.allKernels else { return try requireOneKernel(action) }
        try banAll(action)
        if settings.kernelsFromCommandLine > 0 {
            throw DKMSError(.notFoundOrConflictingKernels, "You cannot specify a kernel version and also specify", "--all-kernels on the command line.")
        }
    }

    /// `module_is_broken_and_die`.
    func refuseBroken() throws(DKMSError) {
        if tree.isBroken(scope.module, scope.version) {
            throw DKMSError(.missingConfOrOneKernelOnly, "\(scope.module)/\(scope.version) is broken!",
                            "Missing the source directory or the symbolic link pointing to it.",
                            "Manual intervention is required!")
        }
    }

    /// `module_is_added_or_die`.
    func requireAdded() throws(DKMSError) {
        if !tree.isAdded(scope.module, scope.version) {
            throw DKMSError(.alreadyThereOrMissingFromTree, "The module/version combo: \(scope.module)/\(scope.version) is not located in the DKMS tree.")
        }
        try refuseUnsafeModuleNames(module: scope.module, version: scope.version)
    }

    /// The kernels and arches of this invocation, paired.
    var kernelArchPairs: [(String, String)] {
        settings.kernels.indices.map { (settings.kernels[$0], $0 < settings.arches.count ? settings.arches[$0] : "") }
    }
}
