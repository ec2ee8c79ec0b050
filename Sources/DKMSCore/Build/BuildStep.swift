#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A build the engine has planned: the plan and what finishing it needs.
struct PlannedBuild: Sendable {
    /// The plan.
    var plan: BuildPlan
    /// The dkms.conf it was made from (BUILD_DEPENDS_REBUILD markers).
    var config: ModuleConfig
    /// The admin has not turned the sandbox off for this module.
    var sandboxAllowed: Bool
    /// Signs the modules (nil: they are not signed).
    var signer: ModuleSigner?
    /// BUILD_DEPENDS_REBUILD markers are written (not with `--force`).
    var writesDependencyMarkers: Bool
    /// The build's cache key and, on a hit, the entry with its modules.
    var cache = CacheUse()
}

struct BuildStep: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// Upstream's `prepare_kernel_and_signing`: headers check and signing
    /// decision, once per kernel/arch in a shell.
    func prepareKernelAndSigning(kernel: String, arch: String, module: String, version: String) async throws(DKMSError) {
        if engine.scope.preparedKernel == "\(kernel)/\(arch)" { return }
        try FleetAdoption(engine: engine).requireKernelHeadersOrFleet(kernel, arch: arch)
        await SigningSetup(engine: engine).prepareSigning(kernel: kernel, arch: arch, module: module, version: version)
        engine.scope.preparedKernel = "\(kernel)/\(arch)"
        engine.console.line()
    }

    /// `maybe_build_module`: builds unless already built (then `--force`
    /// unbuilds first, otherwise it says so and succeeds).
    func buildIfNeeded(module: String, version: String, kernel: String, arch: String) async -> Int32 {
        await engine.subshell { shell throws(DKMSError) -> Int32 in
            if shell.tree.isBuilt(module, version, kernel, arch) {
                if shell.scope.force {
                    UninstallStep(engine: shell).unbuildDirectory(module: module, version: version, kernel: kernel, arch: arch)
                } else {
                    shell.console.line("Module \(module)/\(version) already built for kernel \(kernel) (\(arch)), skip. You may override by specifying --force.")
                    return 0
                }
            }
            try await BuildStep(engine: shell).build(module: module, version: version, kernel: kernel, arch: arch)
            return 0
        }
    }

    /// Upstream's `do_build`: adds the module if needed, plans the build,
    /// runs it in a fresh copy of the source (in its sandbox) and publishes
    /// the modules atomically in `m/v/K/A`.
    /// - Returns: the module and version built (a source tree given on the
    ///   command line names them only once it is added).
    @discardableResult
    func build(module: String, version: String, kernel: String, arch: String) async throws(DKMSError) -> (String, String) {
        let planned = try await planBuild(module: module, version: version, kernel: kernel, arch: arch)
        let builder = await makeBuilder(for: planned.plan, console: engine.console, sandboxAllowed: planned.sandboxAllowed)
        do {
            try await builder.run(from: planned.cache.entry)
            try await publish(planned, builder: builder)
        } catch {
            settleFailedBuild(builder)
            throw error
        }
        return (planned.plan.target.module, planned.plan.target.version)
    }

    /// Everything `do_build` does before it touches the build directory:
    /// adds the module if needed, reads and checks dkms.conf, prepares the
    /// kernel and signing, chooses the compiler and the build environment,
    /// checks BUILD_DEPENDS, and makes the plan.
    func planBuild(module: String, version: String, kernel: String, arch: String) async throws(DKMSError) -> PlannedBuild {
        guard !kernel.isEmpty, !arch.isEmpty else { throw DKMSError(.emptyKernelOrArch, "do_build: Empty $kernelver or $arch") }
        var module = module
        var version = version
        if !engine.tree.isAdded(module, version) {
            engine.scope.module = module
            engine.scope.version = version
            try await AddAction(engine: engine).addModule(kernel: kernel, arch: arch)
            module = engine.scope.module
            version = engine.scope.version
            engine.console.line()
        }
        try engine.refuseUnsafeModuleNames(module: module, version: version)
        let store = engine.tree
        let sourceDir = store.sourceDirectory(module, version)
        let baseDir = store.builtDirectory(module, version, kernel, arch)
        if fileSystem.isDirectory(baseDir) {
            throw DKMSError(.alreadyThereOrMissingFromTree, "This module/version has already been built on: \(kernel)",
                            "Directory \(baseDir) already exists. Use the dkms remove function before trying to build again.")
        }
        engine.updateModuleSuffix(for: kernel)
        let config = try await ConfReader(engine: engine).readConfOrDie(kernel: kernel, arch: arch, module: module, version: version, strict: true)
        if config.buildExcluded {
            throw DKMSError.warning(.excludedByBuildExclusive, "The \(baseDir)/dkms.conf",
                                    "for module \(module)/\(version) includes BUILD_EXCLUSIVE directives",
                                    "which do not match this kernel/arch/config for any modules.",
                                    "This indicates that it should not be built.")
        }
        if fileSystem.globEntries(of: sourceDir).count < 2 {
            throw DKMSError(.badConfOrNoSource, "The directory \(sourceDir) does not appear to have module source located within it.",
                            "Build halted.")
        }
        KernelChoice(engine: engine).announceChosenKernels()
        try await prepareKernelAndSigning(kernel: kernel, arch: arch, module: module, version: version)
        let compiler = await chooseCompiler(kernel: kernel, environment: engine.childEnvironment)
        let environment = await buildEnvironment(after: compiler.environment)
        // do_build exports both into its shell: what runs after it in this
        // scope (the install that asked for the build) sees them too.
        engine.scope.environment = environment
        try checkBuildDependencies(config, module: module, version: version, kernel: kernel, arch: arch)
        let overlay = "\(engine.etcDirectory)/\(module)/patches"
        let plan = BuildPlanner.plan(.init(
            target: .init(module: module, version: version, kernel: kernel, arch: arch), config: config,
            sourceDirectory: sourceDir, buildDirectory: store.buildDirectory(module, version),
            overrideDirectory: "\(engine.etcDirectory)/\(module)", patchOverlay: fileSystem.isDirectory(overlay) ? overlay : nil,
            shellVariables: engine.shellVariables(kernel: kernel, arch: arch, module: module, version: version),
            environment: environment, parallelJobs: settings.parallelJobs, sign: engine.scope.signing.enabled,
            compressedSuffix: engine.scope.compressedSuffix,
            compressOptions: (settings.compressGzipOptions, settings.compressXzOptions, settings.compressZstdOptions),
            compilerChoice: compiler.choice))
        let cache: CacheUse
        if case .success(let identity)? = kernels.fleetIdentity(kernel: kernel, arch: arch) {
            cache = try await FleetAdoption(engine: engine).adoptFromFleet(plan, kernel: identity)
        } else {
            cache = await BuildCacheLookup(engine: engine).useCache(for: plan)
        }
        return PlannedBuild(plan: plan, config: config, sandboxAllowed: await sandboxAllowed(module: module),
                            signer: SigningSetup(engine: engine).moduleSigner, writesDependencyMarkers: config.rebuildOnDependencyChange && !engine.scope.force,
                            cache: cache)
    }

    /// The builder of a plan: in its own directory and sandbox when the
    /// sandbox is on, else in the canonical build directory.
    /// - Parameters:
    ///   - console: where the build's progress goes.
    ///   - sharesMountPoint: other builds of the same module version run at
    ///     the same time (the caller prepares and removes the canonical
    ///     directory they are all bound to).
    ///   - jobServer: the command's jobserver, which the build's make joins.
    ///   - buffered: `console` keeps output for later, so what a command
    ///     would write to the terminal is collected into it.
    func makeBuilder(for plan: BuildPlan, console: any Console, sandboxAllowed: Bool = true,
                     sharesMountPoint: Bool = false, jobServer: JobServer? = nil, buffered: Bool = false) async -> Builder {
        let target = plan.target
        var sandbox: BuildSandbox?
        var directory = plan.buildDirectory
        if sandboxAllowed, var found = await buildSandbox() {
            found.readOnlyDirectories = [dkmsTree, engine.sourceTree, installTree, kernels.sourceDirectory(for: target.kernel),
                                         fileSystem.canonicalPath(plan.sourceDirectory) ?? plan.sourceDirectory]
            found.hiddenFiles = Array(Set([SigningSetup(engine: engine).signingValue("mok_signing_key"), "/var/lib/dkms/mok.key", engine.tree.root + "/mok.key", SharedCacheSteps(engine: engine).signingKeyFile]
                .filter { !$0.isEmpty && !$0.hasPrefix("pkcs11:") })).sorted()
            if let jobServer {
                found.sharedDirectories = [FileSystem.split(jobServer.fifo).directory]
                if let identity = found.identity { jobServer.admit(identity) }
            }
            sandbox = found
            if !sharesMountPoint {
                fileSystem.removeTree(plan.buildDirectory)
            }
            fileSystem.makeDirectories(plan.buildDirectory)
            directory = fileSystem.makeTemporaryDirectory(
                template: engine.tree.privateBuildTemplate(target.module, target.version, target.kernel, target.arch))
                ?? plan.buildDirectory
            if directory == plan.buildDirectory { sandbox = nil }
        }
        var presenter = CommandPresenter(console: console, verbose: settings.verbose,
                                         progressDots: !CommandPresenter.isTestPackage(engine.scope.packageName),
                                         fileSystem: fileSystem)
        presenter.collectsTerminalOutput = buffered
        return Builder(plan: plan, directory: directory, sandbox: sandbox, runner: engine.runner, presenter: presenter,
                       programName: settings.programName, pathPrefix: jobServer?.wrapperDirectory,
                       sharesMountPoint: sharesMountPoint, fileSystem: fileSystem)
    }

    /// Publishes a finished build (see ``BuildPublisher``).
    func publish(_ planned: PlannedBuild, builder: Builder) async throws(DKMSError) {
        var publisher = BuildPublisher(tree: engine.tree, runner: engine.runner, console: engine.console)
        if planned.cache.key != nil && planned.cache.entry == nil {
            publisher.cache = (BuildCacheLookup(engine: engine).localCache, settings.buildCacheSize)
        }
        try await publisher.publish(planned, builder: builder)
        BuildCacheLookup(engine: engine).recordCacheOrigin(of: planned.plan.target, use: planned.cache)
    }

    /// After a failed build (see ``BuildPublisher/settleFailure(of:)``).
    func settleFailedBuild(_ builder: Builder) {
        BuildPublisher(tree: engine.tree, runner: engine.runner, console: engine.console).settleFailure(of: builder)
    }

    /// Chooses the compiler (and linker) the kernel was built with, as
    /// upstream does; changes nothing.
    /// - Parameter environment: the environment before the choice.
    /// - Returns: the environment with the choice exported, and the
    ///   variables chosen (`CC`, `KERNEL_CC`, `LD`, `KERNEL_LD`): the
    ///   compiler the kernel names, which a fleet lookup leaves to the
    ///   kernel's identity.
    func chooseCompiler(kernel: String, environment: [String: String]) async -> (environment: [String: String], choice: [String: String]) {
        var environment = environment
        var choice: [String: String] = [:]
        let source = kernels.sourceDirectory(for: kernel)
        let variables = source + "/.kernelvariables"
        if fileSystem.isRegularFile(variables) {
            let makefile = "show-%:\n\t@echo $($*)\ninclude \(variables)\n"
            let outcome = await engine.runner.run(ProcessSpec(
                Shell.bash, ["-c", "printf '%s' \"$1\" | make -f - show-CC", "dkms", makefile],
                environment: environment, output: .capture, error: .inherit))
            var cc = outcome.outputText
            while cc.hasSuffix("\n") { cc.removeLast() }
            choice["CC"] = cc
        } else {
            environment.removeValue(forKey: "CC")
        }
        let configPath = kernels.configForReading(kernel)
        if let text = fileSystem.readText(configPath) {
            let versionLines = text.contains("CONFIG_CC_VERSION_TEXT=")
                ? text.split(separator: "\n").filter { $0.hasPrefix("CONFIG_CC_VERSION_TEXT=") } : []
            for line in versionLines {
                var rest = line.dropFirst("CONFIG_CC_VERSION_TEXT=".count)
                while rest.first == "\"" { rest = rest.dropFirst() }
                let word = rest.prefix { $0 != "\"" && $0 != " " }
                let after = rest.dropFirst(word.count)
                if after.first == " " && ShellCommand.isCommand(String(word), path: environment["PATH"]) {
                    choice["CC"] = String(word)
                    choice["KERNEL_CC"] = String(word)
                }
            }
            if text.contains("CONFIG_CC_IS_CLANG=y") && ShellCommand.isCommand("clang", path: environment["PATH"]) {
                choice["CC"] = "clang"
                choice["KERNEL_CC"] = "clang"
            }
            if text.contains("CONFIG_LD_IS_LLD=y") && ShellCommand.isCommand("ld.lld", path: environment["PATH"]) {
                choice["LD"] = "ld.lld"
                choice["KERNEL_LD"] = "ld.lld"
            }
        }
        environment.merge(choice) { $1 }
        return (environment, choice)
    }

    /// The build environment: `environment` after sourcing framework.conf's
    /// `build_environment` file, which replaces it with what the file
    /// exports (`environment` itself when there is no such file); changes
    /// nothing.
    func buildEnvironment(after environment: [String: String]) async -> [String: String] {
        let file = settings.buildEnvironment
        guard !file.isEmpty, fileSystem.isRegularFile(file) else { return environment }
        let outcome = await engine.runner.run(ProcessSpec(
            Shell.bash, ["-c", "source \"$1\" &>/dev/null; env -0", "dkms", file],
            environment: environment, output: .capture, error: .discard))
        var exported: [String: String] = [:]
        for entry in outcome.standardOutput.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            exported[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        for name in ["_", "SHLVL", "PWD", "OLDPWD"] { exported[name] = environment[name] }
        return exported
    }

    /// Refuses to build when a BUILD_DEPENDS module is not installed for
    /// the kernel (exit 13), unless `--force`.
    func checkBuildDependencies(_ config: ModuleConfig, module: String, version: String, kernel: String, arch: String) throws(DKMSError) {
        var missing = ""
        for dependency in config.buildDepends {
            let installed = engine.tree.status(module: dependency, kernel: kernel, arch: arch).contains {
                if case .built(_, _, _, _, .installed) = $0 { return true }
                return false
            }
            if !installed { missing += " " + dependency }
        }
        guard !missing.isEmpty else { return }
        if engine.scope.force {
            engine.console.warning("Trying to build module \(module)/\(version) for kernel \(kernel) (\(arch)) despite of missing BUILD_DEPENDS:\(missing).")
        } else {
            throw DKMSError(.missingBuildDepends, "Aborting build of module \(module)/\(version) for kernel \(kernel) (\(arch)) due to missing BUILD_DEPENDS:\(missing).",
                            "You may override by specifying --force.")
        }
    }
}

/// The version dkms reports.
package enum DKMSVersion {
    /// `dkms-3.4.3`, the upstream release we are compatible with.
    package static let releaseString = "dkms-3.4.3"
}

extension BuildStep {
    /// The sandbox builds run in, or nil when it is off (`build_sandbox=no`)
    /// or bubblewrap cannot make one here; then dkms says so once per tree
    /// and builds as upstream does.
    func buildSandbox() async -> BuildSandbox? {
        guard settings.buildSandbox else { return nil }
        if let known = engine.shared.sandboxProbe { return known }
        var sandbox: BuildSandbox?
        let identity = geteuid() == 0 ? BuildIdentity.resolve(user: settings.buildUser) : nil
        if let found = await BuildSandbox.find(path: engine.childEnvironment["PATH"], identity: identity, runner: engine.runner) {
            var made = BuildSandbox(bwrap: found.bwrap, unprivileged: found.unprivileged)
            made.identity = found.identity
            if let identity, found.identity == nil {
                // The promise that a build owns nothing does not hold here: say so once.
                let marker = engine.tree.sandboxWithoutIdentityMarker
                if !fileSystem.exists(marker) {
                    engine.console.errorLine("dkms: builds cannot run as \(identity) here (setpriv failed in the sandbox): they run sandboxed but with root's identity, which can read files only root may read.")
                    fileSystem.writeText("setpriv could not switch to \(identity) in the sandbox.\n", to: marker)
                }
            }
            made.limits = settings.buildLimits
            let path = engine.childEnvironment["PATH"] ?? "/usr/bin:/bin"
            if let setpriv = SubprocessRunner.lookUp("setpriv", in: path) ?? SubprocessRunner.lookUp("setpriv", in: "/usr/bin:/bin") {
                made.setpriv = setpriv
            }
            // Where systemd is PID 1 and can make a transient scope (tried
            // once: a host without a working manager keeps the rlimits).
            if fileSystem.isDirectory("/run/systemd/system"), let systemdRun = SubprocessRunner.lookUp("systemd-run", in: path),
               await engine.runner.run(ProcessSpec(systemdRun, SandboxWatcher.scopeArguments(limits: made.limits) + ["/bin/true"],
                                            environment: engine.childEnvironment, output: .discard, error: .discard)).status == 0 {
                made.systemdRun = systemdRun
            }
            sandbox = made
        } else {
            let marker = engine.tree.sandboxUnavailableMarker
            if !fileSystem.exists(marker) {
                engine.console.errorLine("dkms: bubblewrap (bwrap) is not available: modules are built without a sandbox, one build of a module version at a time.")
                fileSystem.writeText("bubblewrap was not available; builds run without a sandbox.\n", to: marker)
            }
        }
        engine.shared.sandboxProbe = .some(sandbox)
        return sandbox
    }

    /// Whether the admin lets this module build in the sandbox:
    /// `BUILD_SANDBOX=no` in /etc/dkms/MODULE.conf turns it off.
    func sandboxAllowed(module: String) async -> Bool {
        await adminChoices(module: module).sandbox
    }

    /// What the admin lets a module do (``AdminPolicy``).
    func adminChoices(module: String) async -> AdminModuleChoices {
        await engine.adminPolicy.choices(module: module, environment: engine.childEnvironment)
    }
}
