import DKMSCore

/// One action or option that swift-dkms has and upstream dkms 3.4.3 does not.
///
/// ``Additions/table`` lists every one of them. The parser accepts the
/// options from it, the usage shows it (after upstream's text, on standard
/// error), and `--print-additions` renders it as the man page section and
/// the bash and zsh completion code that packaging puts into those files.
struct Addition: Sendable {
    /// An action word or an option.
    enum Kind: Sendable, Equatable {
        case action
        case option
    }

    /// What an option does once parsed.
    enum Effect: Sendable, Equatable {
        /// Parsing goes on.
        case accepted
        /// The value is refused: an `Error!` with this line, exit status 2.
        case refused(String)
        /// Print this on standard output and exit 0.
        case print(String)
    }

    let kind: Kind
    /// `fsck`, `--dry-run`.
    let name: String
    /// What an option's value stands for in the usage (`json`, `FORMAT`), nil for a flag.
    let value: String?
    /// The values the option accepts (offered by the completions).
    let choices: [String]
    /// The actions an option applies to (the completions offer it there); empty for all.
    let actions: [Action]
    /// The words an action takes as its first argument (its subcommands,
    /// offered by the completions); empty for none.
    var words: [String] = []
    /// What it does, in one sentence.
    let summary: String
    /// Applies a parsed option (with its value, empty for a flag) to the settings.
    let apply: @Sendable (inout Settings, String) -> Effect

    /// An action (the `Action` case carries the implementation), with the
    /// subcommands it takes as its first argument, if any.
    static func action(_ action: Action, words: [String] = [], _ summary: String) -> Addition {
        Addition(kind: .action, name: action.rawValue, value: nil, choices: [], actions: [], words: words, summary: summary) { _, _ in .accepted }
    }

    /// An option without a value.
    static func flag(_ name: String, for actions: [Action] = [], _ summary: String,
                     _ set: @escaping @Sendable (inout Settings) -> Void) -> Addition {
        Addition(kind: .option, name: name, value: nil, choices: [], actions: actions, summary: summary) { settings, _ in
            set(&settings)
            return .accepted
        }
    }

    /// An option with a value (`--name value` or `--name=value`).
    static func option(_ name: String, value: String, choices: [String] = [], for actions: [Action] = [], _ summary: String,
                       _ apply: @escaping @Sendable (inout Settings, String) -> Effect) -> Addition {
        Addition(kind: .option, name: name, value: value, choices: choices, actions: actions, summary: summary, apply: apply)
    }

    /// How the usage writes it: `fsck`, `--dry-run`, `--format json`.
    var synopsis: String { value.map { "\(name) \($0)" } ?? name }
}

/// The table of everything swift-dkms adds to upstream's command line.
/// Adding an action or option to dkms is one line here: the usage, the
/// man page and the completions follow from it.
enum Additions {
    static let table: [Addition] = [
        .action(.fsck, "Report and repair leftovers in the dkms tree: temporary and incomplete build directories, partial source copies, versions whose source is gone, links to nothing, module files in updates/dkms that no installed module owns."),
        .action(.mkbmdeb, "Package the modules of MODULE/VERSION built for one kernel (-k) as a Debian binary package (written to the directory given with --archive) that installs them without compiler or headers."),
        .action(.cache, words: CacheAction.cacheSubcommands, "The module cache: cache list (the cached builds), cache stats (size, hits, misses), cache locations (print the shared caches builds are fetched from, one a line; exit status 1 and nothing printed when there is none or build_cache is no), cache prune [SIZE] (evict least recently used entries down to SIZE, default build_cache_size), cache export DIR (copy the cached builds, signed with the fleet key, to a directory a web server or file share serves), cache keygen NAME (a fleet key pair NAME.key and NAME.pub)."),
        .flag("--dry-run", for: [.build, .install, .uninstall, .unbuild, .remove, .autoinstall, .kernelPreinst, .kernelPostinst, .kernelPrerm],
              "Print what build, install, uninstall, unbuild, remove, autoinstall and the kernel_* actions would do, and change nothing.") { $0.dryRun = true },
        .flag("--all-kernels", for: [.autoinstall],
              "With autoinstall: install for every kernel whose headers are installed, building for all of them at once (with build_cache_shared, also every kernel with an image in /boot, from the shared caches).") { $0.allKernels = true },
        .flag("--no-cache", for: [.build, .install, .autoinstall, .kernelPostinst],
              "Build without looking up the module cache (the fresh build is still stored in it).") { $0.noCache = true },
        .flag("--json", for: [.status], "With status: print the status as JSON (schema swift-dkms.status/1).") { $0.jsonOutput = true },
        .option("--format", value: "json", choices: ["json"], for: [.status], "With status: the output format; json is the same as --json.") { settings, value in
            guard value == "json" else { return .refused("Unknown output format: \(value)") }
            settings.jsonOutput = true
            return .accepted
        },
        .option("--print-additions", value: "FORMAT", choices: AdditionsFormat.allCases.map(\.rawValue),
                "Print this list of additions as text, or as the man page section (man) or the bash or zsh completion code (bash, zsh) that packaging puts into those files.") { _, value in
            guard let format = AdditionsFormat(rawValue: value) else { return .refused("Unknown additions format: \(value)") }
            return .print(AdditionsRenderer.render(format))
        },
    ]

    /// The added actions.
    static var actions: [Addition] { table.filter { $0.kind == .action } }
    /// The added options.
    static var options: [Addition] { table.filter { $0.kind == .option } }

    /// The added option `word` names (`--name`, or `--name=value`), and the value given with `=`.
    static func option(matching word: String) -> (Addition, inlineValue: String?)? {
        for option in options {
            if word == option.name { return (option, nil) }
            if option.value != nil, word.hasPrefix(option.name + "=") {
                return (option, String(word.dropFirst(option.name.count + 1)))
            }
        }
        return nil
    }
}
