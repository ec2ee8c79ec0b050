extension ModuleConfig {
    private static let exclusiveNames = [
        "BUILD_EXCLUSIVE_KERNEL", "BUILD_EXCLUSIVE_KERNEL_MIN", "BUILD_EXCLUSIVE_KERNEL_MAX",
        "BUILD_EXCLUSIVE_ARCH", "BUILD_EXCLUSIVE_CONFIG",
    ]

    /// Whether any BUILD_EXCLUSIVE directive is set, globally or for some module.
    package var hasExclusiveDirectives: Bool {
        for name in Self.exclusiveNames where !variables[name].value.isEmpty { return true }
        for index in modules.indices {
            for name in Self.exclusiveNames where !variables[name][index].isEmpty { return true }
        }
        return false
    }

    /// Whether module `index` has its own BUILD_EXCLUSIVE directive.
    package func hasModuleExclusiveDirective(_ index: Int) -> Bool {
        Self.exclusiveNames.contains { !variables[$0][index].isEmpty }
    }

    /// Whether module `index` may be built for this kernel, architecture
    /// and kernel config: the global (element 0) rules and the module's
    /// own rules must all hold.
    package func isBuildable(moduleAt index: Int) -> Bool {
        let kernelKey = VersionKey(kernel)
        for position in [0, index] {
            let kernelPattern = variables["BUILD_EXCLUSIVE_KERNEL"][position]
            if !kernelPattern.isEmpty && !ExtendedRegex.matches(kernel, pattern: kernelPattern) { return false }
            let minimum = variables["BUILD_EXCLUSIVE_KERNEL_MIN"][position]
            if !minimum.isEmpty && kernelKey < VersionKey(minimum) { return false }
            let maximum = variables["BUILD_EXCLUSIVE_KERNEL_MAX"][position]
            if !maximum.isEmpty && kernelKey > VersionKey(maximum) { return false }
            let archPattern = variables["BUILD_EXCLUSIVE_ARCH"][position]
            if !archPattern.isEmpty && !ExtendedRegex.matches(arch, pattern: archPattern) { return false }
        }
        for position in [0, index] {
            let options = variables["BUILD_EXCLUSIVE_CONFIG"][position]
            guard !options.isEmpty, let config = KernelConfigFile.load(kernelConfigPath) else { continue }
            for option in ShellText.words(options) {
                if option.hasPrefix("!") {
                    if config.isEnabled(String(option.dropFirst())) { return false }
                } else if !config.isEnabled(option) {
                    return false
                }
            }
        }
        return true
    }
}
