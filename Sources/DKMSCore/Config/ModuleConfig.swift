/// One kernel module described by a dkms.conf record.
package struct ModuleEntry: Sendable, Equatable {
    /// `BUILT_MODULE_NAME[i]` (defaulted to PACKAGE_NAME for a single module).
    package var builtName: String
    /// `BUILT_MODULE_LOCATION[i]`, with a trailing `/` when not empty.
    package var builtLocation: String
    /// `DEST_MODULE_NAME[i]` (defaulted to the built name).
    package var destName: String
    /// The destination after the distribution override (`/updates/dkms` on Debian).
    package var destLocation: String
    /// `DEST_MODULE_LOCATION[i]` as written in the file.
    package var declaredDestLocation: String
    /// `yes`, `no`, or empty when STRIP[i] held something else.
    package var strip: String
}

/// The meaning of a dkms.conf after upstream's `read_conf`: defaults
/// applied, the make command chosen for the kernel, patches selected,
/// build exclusion decided.
package struct ModuleConfig: Sendable {
    /// Every whitelisted variable as read back from bash.
    package var variables: ShellVariables
    /// The kernel and architecture the file was read for.
    package var kernel: String
    /// The architecture the file was read for.
    package var arch: String
    /// The modules (`num_modules` records).
    package var modules: [ModuleEntry]
    /// The build command before the `make -jN KERNELRELEASE=` rewrite.
    package var makeCommand: String
    /// The patches that apply to this kernel, in order.
    package var patches: [String]
    /// True when BUILD_EXCLUSIVE directives exclude every module.
    package var buildExcluded: Bool
    /// The kernel config file used for BUILD_EXCLUSIVE_CONFIG.
    package var kernelConfigPath: String

    /// `PACKAGE_NAME`.
    package var packageName: String { variables["PACKAGE_NAME"].value }
    /// `PACKAGE_VERSION`.
    package var packageVersion: String { variables["PACKAGE_VERSION"].value }
    /// `AUTOINSTALL` after normalisation: true for yes.
    package var autoinstall: Bool { !variables["AUTOINSTALL"].value.isEmpty }
    /// `BUILD_DEPENDS[@]`.
    package var buildDepends: [String] { variables["BUILD_DEPENDS"].values }
    /// `BUILD_DEPENDS_REBUILD` is yes.
    package var rebuildOnDependencyChange: Bool { !variables["BUILD_DEPENDS_REBUILD"].value.isEmpty }
    /// `NO_WEAK_MODULES` is yes.
    package var noWeakModules: Bool { !variables["NO_WEAK_MODULES"].value.isEmpty }
    /// `OPTIONAL_MODULE` is yes (not in upstream): an admin marks a module
    /// whose build failure must not fail autoinstall and the kernel hooks,
    /// typically in /etc/dkms/MODULE.conf.
    package var isOptional: Bool { variables["OPTIONAL_MODULE"].value.lowercased() == "yes" }
    /// `REQUIRED_MODULE` is yes (not in upstream): an admin marks a module
    /// the machine cannot boot without, typically in /etc/dkms/MODULE.conf;
    /// its failure fails the kernel hooks even where the hook policy
    /// forgives other modules.
    package var isRequired: Bool { variables["REQUIRED_MODULE"].value.lowercased() == "yes" }
    /// `OBSOLETE_BY`.
    package var obsoleteBy: String { variables["OBSOLETE_BY"].value }

    /// A script directive (`PRE_BUILD`, `POST_ADD`, …).
    package func script(_ kind: ScriptKind) -> String {
        variables[kind.directive].value
    }

    /// Why a module name or version cannot name a directory of the tree
    /// (`.`, `..`, a `/`, bytes that are not UTF-8), or nil when it can.
    package static func pathComponentProblem(_ value: String) -> String? {
        if value == "." || value == ".." { return "may not be '.' or '..'" }
        if value.contains("/") { return "may not contain '/'" }
        if value.unicodeScalars.contains("\u{FFFD}") { return "is not valid UTF-8" }
        return nil
    }

    /// The most module records a dkms.conf may describe (indices 0 to 65535).
    package static let maximumRecords = 65_536

    /// The variables upstream accepts from dkms.conf, in its order.
    package static let variableNames: [String] = """
        PACKAGE_NAME PACKAGE_VERSION POST_ADD POST_BUILD POST_INSTALL POST_REMOVE PRE_BUILD \
        PRE_INSTALL BUILD_DEPENDS BUILD_EXCLUSIVE_ARCH BUILD_EXCLUSIVE_CONFIG \
        BUILD_EXCLUSIVE_KERNEL BUILD_EXCLUSIVE_KERNEL_MIN BUILD_EXCLUSIVE_KERNEL_MAX \
        build_exclude MAKE MAKE_MATCH PATCH PATCH_MATCH patch_array BUILT_MODULE_NAME \
        built_module_name BUILT_MODULE_LOCATION built_module_location DEST_MODULE_NAME dest_module_name \
        DEST_MODULE_LOCATION dest_module_location STRIP strip AUTOINSTALL NO_WEAK_MODULES BUILD_DEPENDS_REBUILD \
        OBSOLETE_BY CLEAN REMAKE_INITRD MODULES_CONF MODULES_CONF_OBSOLETES \
        MODULES_CONF_ALIAS_TYPE MODULES_CONF_OBSOLETE_ONLY OPTIONAL_MODULE REQUIRED_MODULE
        """.split(separator: " ").map(String.init)

    /// Facts about the kernel and system that interpretation needs.
    package struct Context: Sendable {
        /// The kernel version.
        package var kernel: String
        /// The architecture.
        package var arch: String
        /// `module` (may be empty while a source tree is probed).
        package var module: String
        /// `module_version`.
        package var moduleVersion: String
        /// The dkms tree root.
        package var dkmsTree: String
        /// The kernel source (headers) directory.
        package var kernelSourceDir: String
        /// The kernel config file (auto.conf or .config).
        package var kernelConfigPath: String
        /// How DEST_MODULE_LOCATION is rewritten for the distribution.
        package var destination: DestinationPolicy
        /// Whether the kernel was built with clang (adds `LLVM=1`).
        package var kernelUsesClang: Bool
    }

    /// Interprets the variables of an evaluated dkms.conf as upstream's
    /// `read_conf` does. Problems are returned as the exact lines upstream
    /// prints to standard error (each starts with `dkms.conf:` or
    /// continues the previous one); the configuration is valid when
    /// there are none.
    package static func interpret(_ input: ShellVariables, context: Context) -> (config: ModuleConfig, problems: [String]) {
        var variables = input
        var problems: [String] = []
        if variables["PACKAGE_NAME"].value.isEmpty {
            problems.append("dkms.conf: Error! No 'PACKAGE_NAME' directive specified.")
        }
        if variables["PACKAGE_VERSION"].value.isEmpty {
            problems.append("dkms.conf: Error! No 'PACKAGE_VERSION' directive specified.")
        }
        // Not in upstream: a name or version that is not one path
        // component would make dkms write (and remove) elsewhere in the tree.
        for name in ["PACKAGE_NAME", "PACKAGE_VERSION"] {
            let value = variables[name].value
            if variables.undecodable.contains(name) {
                problems.append("dkms.conf: Error! '\(name)' is not valid UTF-8.")
            } else if !value.isEmpty, let problem = pathComponentProblem(value) {
                problems.append("dkms.conf: Error! '\(name)' \(problem).")
            }
        }
        let builtNames = variables["BUILT_MODULE_NAME"]
        let builtLocations = variables["BUILT_MODULE_LOCATION"]
        let destNames = variables["DEST_MODULE_NAME"]
        let destLocations = variables["DEST_MODULE_LOCATION"]
        let strips = variables["STRIP"]
        var count = max(builtNames.maxIndex, builtLocations.maxIndex, destNames.maxIndex, destLocations.maxIndex) + 1
        if count > maximumRecords {
            // Upstream walks every index up to the highest one, printing an
            // error per missing record: for BUILT_MODULE_NAME[99999999999]
            // that never ends. Refuse the file instead.
            let name = ["BUILT_MODULE_NAME", "BUILT_MODULE_LOCATION", "DEST_MODULE_NAME", "DEST_MODULE_LOCATION"]
                .max { variables[$0].maxIndex < variables[$1].maxIndex } ?? "BUILT_MODULE_NAME"
            problems.append("dkms.conf: Error! Index \(count - 1) of '\(name)' is above the \(maximumRecords - 1) that dkms supports.")
            count = 0
        }

        var modules: [ModuleEntry] = []
        var firstStrip = ""
        for index in 0..<count {
            var strip = ""
            let rawStrip = strips[index]
            if rawStrip.hasPrefix("n") || rawStrip.hasPrefix("N") {
                strip = "no"
            } else if rawStrip.hasPrefix("y") || rawStrip.hasPrefix("Y") {
                strip = "yes"
            } else if rawStrip.isEmpty {
                strip = firstStrip.isEmpty ? "yes" : firstStrip
            }
            if index == 0 { firstStrip = strip }
            var builtName = builtNames[index]
            if builtName.isEmpty && count == 1 { builtName = variables["PACKAGE_NAME"].value }
            var destName = destNames[index]
            if destName.isEmpty { destName = builtName }
            var builtLocation = builtLocations[index]
            if !builtLocation.isEmpty && !builtLocation.hasSuffix("/") { builtLocation += "/" }
            if builtName.isEmpty {
                problems.append("dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #\(index).")
            }
            if builtName.hasSuffix(".o") || builtName.hasSuffix(".ko") {
                problems.append("dkms.conf: Error! 'BUILT_MODULE_NAME' directive ends in '.o' or '.ko' in record #\(index).")
            }
            if destName.hasSuffix(".o") || destName.hasSuffix(".ko") {
                problems.append("dkms.conf: Error! 'DEST_MODULE_NAME' directive ends in '.o' or '.ko' in record #\(index).")
            }
            let declared = destLocations[index]
            let destLocation = context.destination.location(for: declared)
            if declared.isEmpty {
                problems.append("dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #\(index).")
            } else if !(declared.hasPrefix("/kernel") || declared.hasPrefix("/updates") || declared.hasPrefix("/extra")) {
                problems.append("dkms.conf: Error! Directive 'DEST_MODULE_LOCATION' does not begin with")
                problems.append("'/kernel', '/updates', or '/extra' in record #\(index).")
            }
            modules.append(ModuleEntry(
                builtName: builtName, builtLocation: builtLocation, destName: destName,
                destLocation: destLocation, declaredDestLocation: declared, strip: strip
            ))
        }

        // The make command: MAKE[0] unless MAKE_MATCH[0] is set, then the
        // last MAKE[i] whose MAKE_MATCH[i] matches the kernel.
        let make = variables["MAKE"]
        let makeMatch = variables["MAKE_MATCH"]
        var makeCommand = makeMatch[0].isEmpty ? make[0] : ""
        for index in 0..<make.count where !make[index].isEmpty && !makeMatch[index].isEmpty {
            if ExtendedRegex.matches(context.kernel, pattern: makeMatch[index]) { makeCommand = make[index] }
        }
        if makeCommand.isEmpty {
            makeCommand = "make -C \(context.kernelSourceDir) M=\(context.dkmsTree)/\(context.module)/\(context.moduleVersion)/build"
        }
        if context.kernelUsesClang { makeCommand += " LLVM=1" }

        let patch = variables["PATCH"]
        let patchMatch = variables["PATCH_MATCH"]
        var patches: [String] = []
        for index in 0..<patch.count where !patch[index].isEmpty {
            if patchMatch[index].isEmpty || ExtendedRegex.matches(context.kernel, pattern: patchMatch[index]) {
                patches.append(patch[index])
            }
        }

        // OBSOLETE_BY becomes the global kernel maximum when nothing else limits it.
        let obsoleteBy = variables["OBSOLETE_BY"].value
        if !obsoleteBy.isEmpty && variables["BUILD_EXCLUSIVE_KERNEL_MAX"].value.isEmpty {
            let maxima = variables["BUILD_EXCLUSIVE_KERNEL_MAX"]
            if !(0..<count).contains(where: { !maxima[$0].isEmpty }) {
                variables["BUILD_EXCLUSIVE_KERNEL_MAX"].elements[0] = obsoleteBy
            }
        }

        for name in ["AUTOINSTALL", "BUILD_DEPENDS_REBUILD", "NO_WEAK_MODULES"] {
            let value = variables[name].value
            switch value.lowercased() {
            case "", "yes": break
            case "no": variables[name].elements[0] = ""
            default: problems.append("dkms.conf: Error! Unsupported \(name) value '\(value)'")
            }
        }

        var config = ModuleConfig(
            variables: variables, kernel: context.kernel, arch: context.arch, modules: modules,
            makeCommand: makeCommand, patches: patches, buildExcluded: false,
            kernelConfigPath: context.kernelConfigPath
        )
        var buildable = 0
        for index in 0..<count where config.isBuildable(moduleAt: index) { buildable += 1 }
        // Upstream notes the directives while checking each module: with
        // no module at all nothing is excluded.
        if buildable == 0 && count > 0 && config.hasExclusiveDirectives { config.buildExcluded = true }
        return (config, problems)
    }

    /// The extra checks of upstream's `read_conf_strict` (add, build and
    /// install refuse a file that fails them). Returns warnings and
    /// errors as printed lines, and whether it passed.
    package func strictProblems() -> (lines: [String], failed: Bool) {
        var lines: [String] = []
        var failed = false
        if modules.isEmpty { lines.append("dkms.conf: Warning! Zero modules specified.") }
        var seen: Set<String> = []
        for (index, module) in modules.enumerated() {
            let name = module.builtLocation + module.builtName
            if seen.contains(name) {
                lines.append("dkms.conf: Error! Duplicate module '\(name)' in 'BUILT_MODULE_NAME[\(index)]'.")
                failed = true
            }
            seen.insert(name)
        }
        seen = []
        for (index, module) in modules.enumerated() {
            if seen.contains(module.destName) {
                lines.append("dkms.conf: Error! Duplicate module '\(module.destName)' in 'DEST_MODULE_NAME[\(index)]'.")
                failed = true
            }
            seen.insert(module.destName)
        }
        return (lines, failed)
    }
}

/// The kinds of scripts a dkms.conf can name.
package enum ScriptKind: String, Sendable, CaseIterable {
    case postAdd = "post_add"
    case preBuild = "pre_build"
    case postBuild = "post_build"
    case preInstall = "pre_install"
    case postInstall = "post_install"
    case postRemove = "post_remove"

    /// The dkms.conf directive that names the script.
    package var directive: String { rawValue.uppercased() }

    /// Build scripts run in the build directory, the others in the source.
    package var runsInBuildDirectory: Bool { self == .preBuild || self == .postBuild }
}
