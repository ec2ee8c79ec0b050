/// Everything that decides one build of one module version for one kernel
/// and architecture, as one value.
///
/// A ``BuildPlanner`` makes it from the evaluated dkms.conf, framework.conf
/// and the kernel's facts; a ``Builder`` runs it. Two plans are equal
/// exactly when the builds would be the same: the value holds the source,
/// the patches, the commands as they will be evaluated, the variables and
/// environment those commands see, and the modules to collect with what is
/// done to them. How the build is shown (verbose, progress dots) and where it
/// runs (its private directory, its sandbox) are not part of it.
package struct BuildPlan: Sendable, Codable, Hashable {
    /// Which build this is.
    package struct Target: Sendable, Codable, Hashable, CustomStringConvertible {
        /// `PACKAGE_NAME` as the tree knows it.
        package var module: String
        /// `PACKAGE_VERSION`.
        package var version: String
        /// The kernel release built for.
        package var kernel: String
        /// The architecture built for.
        package var arch: String

        /// Creates a target.
        package init(module: String, version: String, kernel: String, arch: String) {
            self.module = module
            self.version = version
            self.kernel = kernel
            self.arch = arch
        }

        /// `m/v for kernel K (A)`, as dkms names a build.
        package var description: String { "\(module)/\(version) for kernel \(kernel) (\(arch))" }
    }

    /// A `PRE_BUILD` or `POST_BUILD` script as dkms.conf names it. It is
    /// resolved when it runs, as upstream's `run_build_script` does: an
    /// executable of the same name in `/etc/dkms/MODULE/` wins over the one
    /// in the build directory.
    package struct Script: Sendable, Codable, Hashable {
        /// The directive's value: a path relative to the build directory
        /// and its arguments.
        package var command: String
        /// `/etc/dkms/MODULE`, where an override may be.
        package var overrideDirectory: String

        /// Creates a script reference.
        package init(command: String, overrideDirectory: String) {
            self.command = command
            self.overrideDirectory = overrideDirectory
        }
    }

    /// One module file the build must produce and dkms collects.
    package struct CollectedModule: Sendable, Codable, Hashable {
        /// The built file without `.ko`, relative to the build directory
        /// (or absolute), as `BUILT_MODULE_LOCATION` + `BUILT_MODULE_NAME`.
        package var builtStem: String
        /// `DEST_MODULE_NAME`: the name it is published under.
        package var destName: String
        /// `STRIP` is not `no`: debug symbols are stripped.
        package var strip: Bool

        /// Creates a module entry.
        package init(builtStem: String, destName: String, strip: Bool) {
            self.builtStem = builtStem
            self.destName = destName
            self.strip = strip
        }

        /// The built `.ko` relative to the build directory, as messages name it.
        package var builtFile: String { builtStem + ".ko" }
    }

    /// How published modules are compressed.
    package struct Compression: Sendable, Codable, Hashable {
        /// `.gz`, `.xz` or `.zst`.
        package var suffix: String
        /// The compressor program.
        package var tool: String
        /// Its options, as words.
        package var options: [String]

        /// Creates a compression choice.
        package init(suffix: String, tool: String, options: [String]) {
            self.suffix = suffix
            self.tool = tool
            self.options = options
        }
    }

    /// The build.
    package var target: Target
    /// The module's source (`$dkms_tree/m/v/source`, resolved): copied
    /// into the build directory first.
    package var sourceDirectory: String
    /// `$dkms_tree/m/v/build`: the path every command sees as the build
    /// directory, whatever directory backs it.
    package var buildDirectory: String
    /// `/etc/dkms/MODULE/patches`, copied into `build/patches` when it exists.
    package var patchOverlay: String?
    /// The patches that apply, in order (names under `build/patches`).
    package var patches: [String]
    /// `PRE_BUILD`, when set.
    package var preBuild: Script?
    /// `POST_BUILD`, when set.
    package var postBuild: Script?
    /// The build command after upstream's `make -jN KERNELRELEASE=K` rewrite.
    package var makeCommand: String
    /// The shell variables evaluated commands see (`kernelver`, `arch`,
    /// `dkms_tree`, …), in upstream's order.
    package var shellVariables: [ShellVariable]
    /// The complete environment of every command of the build (compiler,
    /// linker, `build_environment`, directives).
    package var environment: [String: String]
    /// The modules to collect.
    package var modules: [CollectedModule]
    /// `strip` or `llvm-strip` (for clang-built kernels).
    package var stripTool: String
    /// Modules are signed (outside the build, with the machine's key).
    package var sign: Bool
    /// Modules are published compressed.
    package var compression: Compression?
    /// The variables dkms set from the compiler the kernel's configuration
    /// names (`CC`, `KERNEL_CC`, `LD`, `KERNEL_LD`); ``environment`` has them
    /// unless `build_environment` changed them.
    package var compilerChoice: [String: String] = [:]

    /// The `make.log` path the build's messages name.
    package var logPath: String { buildDirectory + "/make.log" }
}

/// One scalar shell variable that dkms defines for the commands it evaluates.
package struct ShellVariable: Sendable, Codable, Hashable {
    /// The name.
    package var name: String
    /// The value.
    package var value: String

    /// Creates a variable.
    package init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}
