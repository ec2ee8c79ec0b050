/// Evaluates dkms.conf, framework.conf and their overrides with bash,
/// the way upstream dkms 3.4.3 does.
///
/// Upstream sources each file in a subshell (its standard output
/// discarded), prints every whitelisted variable as `NAME[i]="value"`
/// with one trailing carriage return removed, adds `NAME="value"` lines
/// for `DKMS_DIRECTIVE*` variables, and sources that text back into the
/// main shell. Values therefore go through a second expansion, and each
/// file sees the variables left by the previous ones. This type
/// reproduces exactly that, then reports the whitelisted variables.
public struct ShellSourcer: Sendable {
    /// One evaluation.
    public struct Request: Sendable {
        /// Shell variables (not exported) defined before any file is read,
        /// such as `kernelver` or `dkms_tree`.
        public var globals: [(name: String, value: ShellArray)]
        /// The environment bash runs with.
        public var environment: [String: String]
        /// The files to source, in order; each must exist.
        public var files: [String]
        /// The variables to carry from each file and report.
        public var names: [String]
        /// Whether the variables are unset before the first file.
        public var unsetFirst: Bool
        /// Whether upstream's deprecation warnings are printed per file.
        public var deprecationWarnings: Bool
        /// Whether what bash prints on standard error is shown.
        public var errorsShown: Bool

        /// Creates a request.
        public init(
            globals: [(name: String, value: ShellArray)], environment: [String: String],
            files: [String], names: [String], unsetFirst: Bool, deprecationWarnings: Bool = false,
            errorsShown: Bool = true
        ) {
            self.errorsShown = errorsShown
            self.globals = globals
            self.environment = environment
            self.files = files
            self.names = names
            self.unsetFirst = unsetFirst
            self.deprecationWarnings = deprecationWarnings
        }
    }

    private let runner: any ProcessRunning

    /// Creates a sourcer that runs bash through `runner`.
    public init(runner: any ProcessRunning) {
        self.runner = runner
    }

    /// The bash program. `$__dkms_names` holds the whitelist; the result
    /// goes to file descriptor 3 as NUL-separated name, index, value.
    private static let program = #"""
exec 3>&1 >/dev/null
__dkms_cr=$'\r'
if [[ $__dkms_unset ]]; then
    for __dkms_n in $__dkms_names; do unset "$__dkms_n"; done
fi
__dkms_carry() {
    local __dkms_n __dkms_i __dkms_d __dkms_v
    for __dkms_n in $__dkms_names; do
        eval "__dkms_idx=(\"\${!$__dkms_n[@]}\")"
        for __dkms_i in "${__dkms_idx[@]}"; do
            eval "__dkms_v=\${$__dkms_n[$__dkms_i]}"
            printf '%s[%s]="%s"\n' "$__dkms_n" "$__dkms_i" "${__dkms_v%$__dkms_cr}"
        done
    done
    if compgen -v DKMS_DIRECTIVE >/dev/null 2>&1; then
        for __dkms_d in $(set | grep '^DKMS_DIRECTIVE' | cut -d = -f 2-3); do
            printf '%s="%s"\n' "${__dkms_d%%=*}" "${__dkms_d#*=}"
        done
    fi
}
__dkms_deprecations() {
    local f=$1
    if (( ${#CLEAN[@]} )); then
        case "$CLEAN" in
            true|/bin/true|/usr/bin/true) ;;
            *) printf 'Deprecated feature: CLEAN (%s)\n' "$f" >&2 ;;
        esac
    fi
    local n
    for n in REMAKE_INITRD MODULES_CONF MODULES_CONF_OBSOLETES MODULES_CONF_ALIAS_TYPE MODULES_CONF_OBSOLETE_ONLY; do
        eval "(( \${#$n[@]} ))" && printf 'Deprecated feature: %s (%s)\n' "$n" "$f" >&2
    done
    (( ${#OBSOLETE_BY[@]} )) && printf 'Deprecated feature: OBSOLETE_BY (%s): use BUILD_EXCLUSIVE_KERNEL_MAX instead\n' "$f" >&2
    return 0
}
for __dkms_file in "$@"; do
    __dkms_out=$( ( . "$__dkms_file" >/dev/null; __dkms_carry ) 3>&- )
    eval "$__dkms_out"
    [[ $__dkms_warn ]] && __dkms_deprecations "$__dkms_file"
done
for __dkms_n in $__dkms_names; do
    eval "__dkms_idx=(\"\${!$__dkms_n[@]}\")"
    for __dkms_i in "${__dkms_idx[@]}"; do
        eval "__dkms_v=\${$__dkms_n[$__dkms_i]}"
        printf '%s\0%s\0%s\0' "$__dkms_n" "$__dkms_i" "$__dkms_v" >&3
    done
done
"""#

    /// Renders shell variable definitions (`name=([i]='v' …)`).
    public static func definitions(_ globals: [(name: String, value: ShellArray)]) -> String {
        var text = ""
        for (name, array) in globals {
            if array.elements.isEmpty {
                text += "unset \(name)\n"
            } else if array.elements.count == 1, let only = array.elements[0] {
                text += "\(name)=\(ShellText.quote(only))\n"
            } else {
                let items = array.indices.map { "[\($0)]=\(ShellText.quote(array[$0]))" }
                text += "\(name)=(\(items.joined(separator: " ")))\n"
            }
        }
        return text
    }

    /// Evaluates the files and returns the whitelisted variables. Files that
    /// are plain assignments only are read without starting bash, with the
    /// same result; the deprecation warnings are then printed to `console`.
    public func evaluate(_ request: Request, console: (any Console)? = nil) async -> ShellVariables {
        if let variables = evaluatePlain(request, console: console) { return variables }
        return await evaluateWithBash(request)
    }

    /// The bash-free path, or nil when some file (or a DKMS_DIRECTIVE
    /// variable) needs bash.
    func evaluatePlain(_ request: Request, console: (any Console)?) -> ShellVariables? {
        guard !request.environment.keys.contains(where: { $0.hasPrefix("DKMS_DIRECTIVE") }) else { return nil }
        var parsed: [[PlainAssignments.Assignment]] = []
        for file in request.files {
            guard let text = FileSystem.readText(file), let assignments = PlainAssignments.parse(text) else { return nil }
            parsed.append(assignments)
        }
        let wanted = Set(request.names)
        var variables = ShellVariables()
        if !request.unsetFirst {
            // The files see (and pass on) what the shell already has: its
            // variables, or else the environment's.
            for name in request.names {
                if let global = request.globals.first(where: { $0.name == name }) {
                    if !global.value.elements.isEmpty { variables[name] = global.value }
                } else if let value = request.environment[name] {
                    variables[name] = ShellArray(scalar: value)
                }
            }
        }
        for (file, assignments) in zip(request.files, parsed) {
            for assignment in assignments where wanted.contains(assignment.name) {
                var value = assignment.value
                if value.hasSuffix("\r") { value.removeLast() }
                variables[assignment.name].elements[assignment.index] = value
            }
            if request.deprecationWarnings, let console {
                for line in Self.deprecations(variables, file: file) { console.errorLine(line) }
            }
        }
        return variables
    }

    /// Upstream's deprecation warnings for the variables after one file.
    static func deprecations(_ variables: ShellVariables, file: String) -> [String] {
        var lines: [String] = []
        if variables.isSet("CLEAN") && !["true", "/bin/true", "/usr/bin/true"].contains(variables["CLEAN"].value) {
            lines.append("Deprecated feature: CLEAN (\(file))")
        }
        for name in ["REMAKE_INITRD", "MODULES_CONF", "MODULES_CONF_OBSOLETES", "MODULES_CONF_ALIAS_TYPE", "MODULES_CONF_OBSOLETE_ONLY"]
        where variables.isSet(name) {
            lines.append("Deprecated feature: \(name) (\(file))")
        }
        if variables.isSet("OBSOLETE_BY") {
            lines.append("Deprecated feature: OBSOLETE_BY (\(file)): use BUILD_EXCLUSIVE_KERNEL_MAX instead")
        }
        return lines
    }

    /// Evaluates the files with bash.
    func evaluateWithBash(_ request: Request) async -> ShellVariables {
        var script = Self.definitions(request.globals)
        script += "__dkms_names=\(ShellText.quote(request.names.joined(separator: " ")))\n"
        script += "__dkms_unset=\(request.unsetFirst ? "1" : "")\n"
        script += "__dkms_warn=\(request.deprecationWarnings ? "1" : "")\n"
        script += Self.program
        let outcome = await runner.run(ProcessSpec(
            Shell.bash, ["-c", script, "dkms"] + request.files,
            environment: request.environment, output: .capture, error: request.errorsShown ? .inherit : .discard
        ))
        return Self.parse(outcome.standardOutput)
    }

    /// Parses the NUL-separated triples written by the program.
    static func parse(_ bytes: [UInt8]) -> ShellVariables {
        var variables = ShellVariables()
        let fields = bytes.split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        var index = 0
        while index + 2 < fields.count {
            if let position = Int(fields[index + 1]) {
                variables.arrays[fields[index], default: ShellArray()].elements[position] = fields[index + 2]
            }
            index += 3
        }
        return variables
    }
}
