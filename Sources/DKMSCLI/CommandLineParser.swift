#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DKMSCore

/// What parsing decided.
enum ParseOutcome: Equatable {
    /// Go on and run the action.
    case proceed
    /// Stop now with this status (help, version, an unknown option…).
    case exit(Int32)
}

/// Upstream's command-line grammar: one loop over the words, options by
/// exact name or by prefix (`--module*`), values as `--opt=value` or as
/// the next word, and positional words classified by what they are on
/// disk. Side effects happen in order, as upstream's do: `-q` silences
/// the rest, `--version` and `--help` stop at once.
struct CommandLineParser {
    let console: any Console
    /// Redirects standard output and error to /dev/null (`-q`).
    var silence: () -> Void = {
        let null = open("/dev/null", O_WRONLY)
        if null >= 0 {
            dup2(null, STDOUT_FILENO)
            dup2(null, STDERR_FILENO)
            close(null)
        }
    }

    /// Options that take a value and the names they match.
    enum ValueOption {
        case module, version, kernel, templateKernel, conf, dkmsTree, sourceTree, installTree
        case kernelConfig, archive, arch, kernelSourceDir, directive, jobs
    }

    static let prefixOptions: [(String, ValueOption)] = [
        ("--module", .module), ("--kernelver", .kernel), ("--templatekernel", .templateKernel),
        ("--dkmstree", .dkmsTree), ("--sourcetree", .sourceTree), ("--installtree", .installTree),
        ("--config", .kernelConfig), ("--archive", .archive), ("--arch", .arch),
        ("--kernelsourcedir", .kernelSourceDir), ("--directive", .directive),
    ]

    static let shortOptions: [String: ValueOption] = [
        "-m": .module, "-v": .version, "-k": .kernel, "-c": .conf, "-a": .arch, "-j": .jobs,
    ]

    /// Parses `arguments` into `settings`.
    func parse(_ arguments: [String], into settings: inout Settings) -> ParseOutcome {
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            if let option = Self.valueOption(for: word) {
                let value: String
                if let equals = word.firstIndex(of: "=") {
                    value = String(word[word.index(after: equals)...])
                } else {
                    value = index + 1 < arguments.count ? arguments[index + 1] : ""
                    index += 1
                }
                apply(option, ShellText.readLine(value), to: &settings)
                index += 1
                continue
            }
            switch word {
            case "--quiet", "-q":
                silence()
            case "--version", "-V":
                console.line(DKMSVersion.releaseString)
                return .exit(0)
            case "--no-initrd", "--no-clean-kernel", "--no-prepare-kernel":
                console.deprecated(word)
            case "--binaries-only": settings.binariesOnly = true
            case "--source-only": settings.sourceOnly = true
            case "--force": settings.force = true
            case "--force-version-override": settings.forceVersionOverride = true
            case "--all": settings.all = true
            case "--verbose": settings.verbose = true
            case "--rpm_safe_upgrade": settings.rpmSafeUpgrade = true
            case "--symlink-modules": settings.symlinkModules = true
            case "--no-depmod": settings.noDepmod = true
            case "--modprobe-on-install": settings.modprobeOnInstall = true
            case "--debug": break
            case "--help", "-h":
                Usage.show(program: settings.programName, on: console, additions: true)
                return .exit(0)
            default:
                if let (option, inlineValue) = Additions.option(matching: word) {
                    var value = inlineValue ?? ""
                    if option.value != nil, inlineValue == nil {
                        value = index + 1 < arguments.count ? arguments[index + 1] : ""
                        index += 1
                    }
                    switch option.apply(&settings, value) {
                    case .accepted: break
                    case .refused(let message):
                        console.error(message)
                        return .exit(2)
                    case .print(let text):
                        console.text(text)
                        return .exit(0)
                    }
                    index += 1
                    continue
                }
                if word.hasPrefix("-") {
                    console.error("Unknown option: \(word)")
                    Usage.show(program: settings.programName, on: console)
                    return .exit(2)
                }
                if settings.action == .cache {
                    settings.actionArguments.append(word)
                } else if let action = Action(rawValue: word) {
                    if settings.action != nil {
                        console.error("Cannot specify more than one action.")
                        return .exit(4)
                    }
                    settings.action = action
                } else if FileSystem.isRegularFile(word) && word.hasSuffix("dkms.conf") {
                    settings.sourceTreeArgument = String(word.dropLast("dkms.conf".count)) + "./"
                } else if FileSystem.isDirectory(word) && FileSystem.isRegularFile(word + "/dkms.conf") {
                    settings.sourceTreeArgument = word
                } else if FileSystem.isRegularFile(word) {
                    settings.archive = word
                } else if settings.module.isEmpty {
                    Self.splitModuleVersion(word, into: &settings)
                } else {
                    console.warning("I do not know how to handle \(word).")
                }
            }
            index += 1
        }
        return .proceed
    }

    private static func valueOption(for word: String) -> ValueOption? {
        if let option = shortOptions[word] { return option }
        for (prefix, option) in prefixOptions where word.hasPrefix(prefix) {
            return option
        }
        return nil
    }

    private func apply(_ option: ValueOption, _ value: String, to settings: inout Settings) {
        switch option {
        case .module: Self.splitModuleVersion(value, into: &settings)
        case .version: settings.moduleVersion = value
        case .kernel:
            if let slash = value.firstIndex(of: "/") {
                settings.kernels.append(String(value[..<slash]))
                settings.arches.append(String(value[value.index(after: slash)...]))
            } else {
                settings.kernels.append(value)
            }
        case .templateKernel: settings.templateKernel = value
        case .conf: settings.conf = value
        case .dkmsTree: settings.dkmsTree = value
        case .sourceTree: settings.sourceTree = value
        case .installTree: settings.installTree = value
        case .kernelConfig: settings.kernelConfig = value
        case .archive: settings.archive = value
        case .arch: settings.arches.append(value)
        case .kernelSourceDir:
            settings.kernelSourceDir = value
            settings.kernelSourceDirGiven = true
        case .directive: settings.directives.append(value)
        case .jobs: settings.parallelJobs = value
        }
    }

    /// `module/version` splits at the first slash; otherwise only the module is set.
    static func splitModuleVersion(_ value: String, into settings: inout Settings) {
        if let slash = value.firstIndex(of: "/") {
            settings.module = String(value[..<slash])
            settings.moduleVersion = String(value[value.index(after: slash)...])
        } else {
            settings.module = value
        }
    }
}
