import Crypto

/// The name of a build in the module cache: a SHA-256 over everything
/// that decides the modules a build makes (see ``CacheKeyMaterial``).
/// Two builds with the same key make the same unsigned, uncompressed
/// modules, so the second can take the first's.
package struct CacheKey: Sendable, Hashable, Codable, CustomStringConvertible {
    /// 64 lowercase hexadecimal digits.
    package var hex: String

    /// A key from its hexadecimal text, or nil when it is not one.
    package init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        self.hex = hex
    }

    /// The key of some key material.
    package init(_ material: CacheKeyMaterial) {
        var hasher = SHA256()
        material.feed(into: &hasher)
        hex = HexDigest.hex(hasher.finalize())
    }

    /// The first twelve digits, as messages show a key.
    package var short: String { String(hex.prefix(12)) }

    package var description: String { hex }
}

/// What a cache key covers, gathered from a ``BuildPlan``, the files it
/// reads and the kernel's identity. Signing and compression are not in
/// it: modules are cached unsigned and uncompressed, and signed and
/// compressed when they are published on the machine that installs them.
package struct CacheKeyMaterial: Sendable, Hashable, Codable {
    /// Changes whenever what a key covers or how entries are laid out changes.
    package static let formatVersion = "swift-dkms.cache/2"

    /// The build (module, version, kernel, arch).
    package var target: BuildPlan.Target
    /// The build command, with the `-jN` dkms adds written `-j` (the job
    /// count does not change what is built).
    package var makeCommand: String
    /// `PRE_BUILD` and `POST_BUILD` as named, with the digest of the
    /// script each resolves to (or nil when it is missing).
    package var scripts: [String: String?]
    /// The patches in order, with their digests.
    package var patches: [String: String?]
    /// The patch order.
    package var patchOrder: [String]
    /// The shell variables commands see, without those that only say how
    /// the build is run (`verbose`, `force`, `parallel_jobs`, the running kernel).
    package var shellVariables: [ShellVariable]
    /// The environment variables that count (see ``counts(_:_:inherited:)``).
    package var environment: [String: String]
    /// The modules collected, their names and strip choices.
    package var modules: [BuildPlan.CollectedModule]
    /// `strip` or `llvm-strip`.
    package var stripTool: String
    /// The digest of the module source (``TreeDigest``).
    package var sourceDigest: String
    /// The digest of `/etc/dkms/MODULE/patches` when it exists.
    package var patchOverlayDigest: String?
    /// The kernel the modules are built against.
    package var kernel: KernelIdentity

    /// Environment variables that the kernel's build system, compilers
    /// and module Makefiles commonly read: they count in the key even when
    /// they come from the invoking session.
    package static let buildVariables: Set<String> = [
        "CC", "CXX", "LD", "AR", "AS", "NM", "OBJCOPY", "OBJDUMP", "STRIP", "READELF", "LLVM", "LLVM_IAS",
        "ARCH", "SUBARCH", "SRCARCH", "CROSS_COMPILE", "KERNEL_CC", "KERNEL_LD", "HOSTCC", "HOSTCXX", "HOSTLD",
        "HOSTCFLAGS", "HOSTCXXFLAGS", "HOSTLDFLAGS", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "KCFLAGS",
        "KCPPFLAGS", "KAFLAGS", "KRUSTFLAGS", "RUSTC", "RUSTFLAGS", "KERNELRELEASE", "KERNELVERSION", "KERNELDIR",
        "KERNEL_DIR", "KDIR", "KSRC", "KVER", "KVERSION", "KERNEL_VERSION", "KERNEL_SRC", "INSTALL_MOD_PATH",
        "INSTALL_MOD_DIR", "INSTALL_MOD_STRIP", "SOURCE_DATE_EPOCH", "CCACHE_DISABLE", "W", "V", "C", "M", "O",
    ]

    /// Whether an environment variable counts in the key: the build
    /// variables, `KBUILD_*` and `CONFIG_*`, and whatever dkms itself set
    /// or changed for the build (compiler choice, `build_environment`).
    static func counts(_ name: String, _ value: String, inherited: [String: String]) -> Bool {
        buildVariables.contains(name) || name.hasPrefix("KBUILD_") || name.hasPrefix("CONFIG_")
            || (inherited[name] != value && !name.hasPrefix("DKMS_TREE_LOCK"))
    }

    /// Shell variables that say how dkms runs, not what it builds.
    package static let runVariables: Set<String> = ["verbose", "force", "parallel_jobs", "current_kernel", "tmp_location"]

    /// The key material of a plan.
    /// - Parameters:
    ///   - files: reads the files the plan names (sources, patches, scripts).
    ///   - kernel: the identity of the kernel the plan builds against.
    ///   - inherited: the environment dkms was started with; variables
    ///     of the session that kbuild does not read are left out, so the
    ///     same build from another shell, login or package manager has
    ///     the same key.
    package init(plan: BuildPlan, kernel: KernelIdentity, files: TreeDigest, inherited: [String: String]) {
        target = plan.target
        makeCommand = Self.withoutJobCount(plan.makeCommand, kernel: plan.target.kernel)
        let source = plan.sourceDirectory
        var scripts: [String: String?] = [:]
        for script in [plan.preBuild, plan.postBuild].compactMap({ $0 }) {
            let path = ScriptResolution.resolve(script.command, in: source, overrideDirectory: script.overrideDirectory,
                                                isExecutable: { files.fileSystem.isExecutable($0) })?.program
            scripts[script.command] = path.flatMap(files.fileDigest)
        }
        self.scripts = scripts
        var patches: [String: String?] = [:]
        for patch in plan.patches {
            let overlaid = plan.patchOverlay.map { "\($0)/\(patch)" }
            let path = overlaid.flatMap { files.fileSystem.isRegularFile($0) ? $0 : nil } ?? "\(source)/patches/\(patch)"
            patches[patch] = files.fileDigest(path)
        }
        self.patches = patches
        patchOrder = plan.patches
        shellVariables = plan.shellVariables.filter { !Self.runVariables.contains($0.name) }
        environment = plan.environment.filter { Self.counts($0.key, $0.value, inherited: inherited) }
        modules = plan.modules
        stripTool = plan.stripTool
        sourceDigest = files.treeDigest(files.fileSystem.canonicalPath(source) ?? source)
        patchOverlayDigest = plan.patchOverlay.map { files.treeDigest($0) }
        self.kernel = kernel
    }

    /// The build command without the job count dkms put into it
    /// (`make -jN KERNELRELEASE=K …` becomes `make -j KERNELRELEASE=K …`).
    static func withoutJobCount(_ command: String, kernel: String) -> String {
        guard command.hasPrefix("make -j") else { return command }
        let rest = command.dropFirst("make -j".count).drop { $0.isASCII && $0.isNumber }
        let release = " KERNELRELEASE=\(kernel)"
        return rest.hasPrefix(release) ? "make -j" + rest : command
    }

    /// Feeds the material to a hasher in a fixed order, each field framed
    /// by its length so that no two materials feed the same bytes.
    func feed(into hasher: inout SHA256) {
        feed(into: &hasher, format: Self.formatVersion, stripTool: stripTool, environment: environment,
             kernel: [kernel.release, kernel.arch, kernel.configDigest, kernel.symversDigest, kernel.compiler, kernel.banner ?? "-"])
    }

    /// Feeds the build's fields with the given format, strip tool,
    /// environment and kernel fields (a fleet lookup puts the kernel's
    /// build identity where a key has the headers').
    func feed(into hasher: inout SHA256, format: String, stripTool: String, environment: [String: String], kernel: [String]) {
        var fields: [String] = [format, target.module, target.version, target.kernel, target.arch,
                                makeCommand, stripTool, sourceDigest, patchOverlayDigest ?? "-"] + kernel
        for name in scripts.keys.sorted() { fields += ["script", name, (scripts[name] ?? nil) ?? "-"] }
        for name in patchOrder { fields += ["patch", name, (patches[name] ?? nil) ?? "-"] }
        for variable in shellVariables { fields += ["var", variable.name, variable.value] }
        for name in environment.keys.sorted() { fields += ["env", name, environment[name] ?? ""] }
        for module in modules { fields += ["module", module.builtStem, module.destName, module.strip ? "strip" : "keep"] }
        for field in fields { hasher.updateFramed(field) }
    }
}

/// What identifies a kernel's headers to a build: its release and
/// architecture, the digests of the `.config` and `Module.symvers` the
/// build reads, the compiler's version text, and the banner the headers
/// were made with (a new upload of the same release, whose `.config` and
/// `Module.symvers` may be unchanged, has other headers).
package struct KernelIdentity: Sendable, Hashable, Codable {
    /// `uname -r` of the kernel.
    package var release: String
    /// The architecture.
    package var arch: String
    /// SHA-256 of the kernel's `.config` (`-` when absent).
    package var configDigest: String
    /// SHA-256 of its `Module.symvers` (`-` when absent).
    package var symversDigest: String
    /// The compiler's first `--version` line and the kernel's
    /// `CONFIG_CC_VERSION_TEXT`.
    package var compiler: String
    /// Who built the kernel and its banner, as the headers say them
    /// (`builder@host #1 SMP … Debian 6.1.192-3 (2026-11-26)`); nil when
    /// the headers do not (``KernelBuildIdentity/headers(release:arch:sourceDirectory:fileSystem:)``).
    package var banner: String?

    /// Creates an identity.
    package init(release: String, arch: String, configDigest: String, symversDigest: String, compiler: String,
                 banner: String? = nil) {
        self.release = release
        self.arch = arch
        self.configDigest = configDigest
        self.symversDigest = symversDigest
        self.compiler = compiler
        self.banner = banner
    }
}

/// Hexadecimal text of digests.
package enum HexDigest {
    /// The lowercase hexadecimal text of a digest.
    package static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// SHA-256 of bytes, as hexadecimal text.
    package static func sha256(_ bytes: [UInt8]) -> String {
        hex(SHA256.hash(data: bytes))
    }
}
