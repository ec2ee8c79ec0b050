/// What one command learns about the kernels it works on, each fact read
/// once: where a kernel's headers and configuration are, which compressed
/// module suffixes its module directory uses, whether it was built with
/// clang, and its identities (the headers' for cache keys, the build's for
/// fleet lookups). It answers with values; nothing here changes the trees.
package final class KernelFacts {
    /// What the facts depend on, fixed when the command's settings are.
    package struct Inputs: Sendable {
        /// `install_tree` (`/lib/modules`).
        package var installTree: String
        /// `--kernelsourcedir`, when given.
        package var sourceDirectoryOverride: String?
        /// `--config`, when given.
        package var configOverride: String?
        /// A shared module cache is configured and the cache is on: a
        /// kernel without headers takes its modules from the fleet.
        package var fleetConfigured: Bool
        /// Where kernel images and configurations are (`/boot`, or `SWIFT_DKMS_BOOTDIR`).
        package var bootDirectory: String

        /// Creates the inputs.
        package init(installTree: String, sourceDirectoryOverride: String? = nil, configOverride: String? = nil,
                     fleetConfigured: Bool = false, bootDirectory: String = "/boot") {
            self.installTree = installTree
            self.sourceDirectoryOverride = sourceDirectoryOverride
            self.configOverride = configOverride
            self.fleetConfigured = fleetConfigured
            self.bootDirectory = bootDirectory
        }

        /// The inputs of a command's settings.
        package init(_ settings: Settings) {
            let boot = settings.environment["SWIFT_DKMS_BOOTDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/boot"
            self.init(installTree: settings.installTree,
                      sourceDirectoryOverride: settings.kernelSourceDirFromCommandLine ? settings.kernelSourceDir : nil,
                      configOverride: settings.kernelConfigFromCommandLine ? settings.kernelConfig : nil,
                      fleetConfigured: settings.buildCache && !settings.buildCacheShared.isEmpty, bootDirectory: boot)
        }
    }

    /// What the facts depend on.
    package let inputs: Inputs
    private let fileSystem: any FileSystemAccess
    private let runner: any ProcessRunning

    private var configBySource: [String: String] = [:]
    private var suffixesByKernel: [String: Set<String>] = [:]
    private var clangByKernel: [String: Bool] = [:]
    private var headersIdentities: [String: KernelIdentity] = [:]
    private var buildIdentities: [String: Result<KernelBuildIdentity, KernelIdentityProblem>] = [:]

    /// Creates the facts of a command.
    package init(_ inputs: Inputs, fileSystem: any FileSystemAccess, runner: any ProcessRunning) {
        self.inputs = inputs
        self.fileSystem = fileSystem
        self.runner = runner
    }

    // MARK: Headers and configuration

    /// The kernel headers directory (`$install_tree/K/build`, or `--kernelsourcedir`).
    package func sourceDirectory(for kernel: String) -> String {
        inputs.sourceDirectoryOverride ?? "\(inputs.installTree)/\(kernel)/build"
    }

    /// Whether the kernel's headers are there (upstream's `prepare_kernel` test).
    package func hasHeaders(_ kernel: String) -> Bool {
        fileSystem.exists(sourceDirectory(for: kernel) + "/include")
    }

    /// The kernel config: `--config`, else `include/config/auto.conf`
    /// when it exists, else `.config`.
    package func configPath(sourceDirectory: String) -> String {
        if let override = inputs.configOverride { return override }
        if let known = configBySource[sourceDirectory] { return known }
        let auto = sourceDirectory + "/include/config/auto.conf"
        let path = fileSystem.exists(auto) ? auto : sourceDirectory + "/.config"
        configBySource[sourceDirectory] = path
        return path
    }

    /// The kernel config of `kernel`.
    package func configPath(for kernel: String) -> String {
        configPath(sourceDirectory: sourceDirectory(for: kernel))
    }

    /// Whether the modules of a kernel come from the fleet because it has no
    /// headers here (and none were named on the command line).
    package func takesModulesFromFleet(_ kernel: String) -> Bool {
        inputs.fleetConfigured && inputs.sourceDirectoryOverride == nil && !hasHeaders(kernel)
    }

    /// The configuration dkms reads (compiler choice, BUILD_EXCLUSIVE_CONFIG,
    /// signing): ``configPath(for:)``, or `BOOT/config-K` when the kernel's
    /// modules come from the fleet.
    package func configForReading(_ kernel: String) -> String {
        let path = configPath(for: kernel)
        guard inputs.configOverride == nil, !fileSystem.exists(path), takesModulesFromFleet(kernel) else { return path }
        let boot = "\(inputs.bootDirectory)/config-\(kernel)"
        return fileSystem.isRegularFile(boot) ? boot : path
    }

    // MARK: Modules

    /// Upstream's `set_module_suffix` walk: the compressed suffixes
    /// (`.gz`, `.xz`, `.zst`) of the modules under `$install_tree/K/`.
    package func compressedSuffixes(for kernel: String) -> Set<String> {
        if let known = suffixesByKernel[kernel] { return known }
        var found: Set<String> = []
        _ = fileSystem.findFiles(under: "\(inputs.installTree)/\(kernel)/") { name in
            if name.hasSuffix(".ko.gz") { found.insert(".gz") }
            if name.hasSuffix(".ko.xz") { found.insert(".xz") }
            if name.hasSuffix(".ko.zst") { found.insert(".zst") }
            return false
        }
        suffixesByKernel[kernel] = found
        return found
    }

    /// Whether the kernel was built with clang (`LLVM=1` is added to make):
    /// readelf's `.comment` of the headers' `vmlinux`, else the configuration.
    package func usesClang(_ kernel: String, environment: [String: String]) async -> Bool {
        if let known = clangByKernel[kernel] { return known }
        let source = sourceDirectory(for: kernel)
        let answer: Bool
        if fileSystem.exists(source + "/vmlinux") {
            let outcome = await runner.run(ProcessSpec("readelf", ["-p", ".comment", source + "/vmlinux"], environment: environment,
                                                       output: .capture, error: .mergeWithOutput))
            answer = outcome.outputText.contains("clang")
        } else {
            let config = configForReading(kernel)
            answer = fileSystem.exists(config) && (fileSystem.readText(config)?.contains("CONFIG_CC_IS_CLANG=y") ?? false)
        }
        clangByKernel[kernel] = answer
        return answer
    }

    // MARK: Identities

    /// What identifies a kernel's headers to a build (cache keys): the
    /// digests of its configuration and `Module.symvers` and the compiler's
    /// version line (`CC --version`, run once per kernel and arch).
    package func headersIdentity(kernel: String, arch: String, environment: [String: String]) async -> KernelIdentity {
        let id = "\(kernel)/\(arch)"
        if let known = headersIdentities[id] { return known }
        let source = sourceDirectory(for: kernel)
        let digest = TreeDigest(fileSystem: fileSystem)
        let compiler = environment["CC"].flatMap { $0.isEmpty ? nil : $0 } ?? "gcc"
        let version = await runner.run(ProcessSpec(compiler, ["--version"], environment: environment, output: .capture, error: .discard))
        let firstLine = version.outputText.split(separator: "\n").first.map(String.init) ?? ""
        let files = Array(Set([source + "/.config", configPath(sourceDirectory: source)])).sorted()
        let parts = files.map { "\($0.hasPrefix(source + "/") ? String($0.dropFirst(source.count)) : $0)=\(digest.fileDigest($0) ?? "-")" }
        let identity = KernelIdentity(
            release: kernel, arch: arch, configDigest: HexDigest.sha256(Array(parts.joined(separator: "\n").utf8)),
            symversDigest: digest.fileDigest(source + "/Module.symvers") ?? "-", compiler: "\(compiler): \(firstLine)",
            banner: try? buildIdentityFromHeaders(kernel: kernel, arch: arch).map { "\($0.builtBy) \($0.banner)" }.get())
        headersIdentities[id] = identity
        return identity
    }

    /// The build identity of a kernel read from its headers (what an
    /// exporter publishes its lookups under).
    package func buildIdentityFromHeaders(kernel: String, arch: String) -> Result<KernelBuildIdentity, KernelIdentityProblem> {
        memoized("headers \(kernel)/\(arch)") {
            KernelBuildIdentity.headers(release: kernel, arch: arch, sourceDirectory: sourceDirectory(for: kernel), fileSystem: fileSystem)
        }
    }

    /// The build identity of a kernel whose modules come from the fleet,
    /// read from `BOOT/vmlinuz-K` and `BOOT/config-K`: nil when they do not
    /// (``takesModulesFromFleet(_:)``); a failure says why it cannot be read.
    package func fleetIdentity(kernel: String, arch: String) -> Result<KernelBuildIdentity, KernelIdentityProblem>? {
        guard takesModulesFromFleet(kernel) else { return nil }
        return memoized("boot \(kernel)/\(arch)") {
            KernelBuildIdentity.installed(release: kernel, arch: arch, bootDirectory: inputs.bootDirectory, fileSystem: fileSystem)
        }
    }

    private func memoized(_ id: String, _ read: () -> Result<KernelBuildIdentity, KernelIdentityProblem>)
        -> Result<KernelBuildIdentity, KernelIdentityProblem> {
        if let known = buildIdentities[id] { return known }
        let found = read()
        buildIdentities[id] = found
        return found
    }
}
