/// Evaluates dkms.conf, framework.conf and their overrides with bash,
/// the way upstream dkms 3.4.3 does.
///
/// Upstream sources each file inside a function (where `set -e` is
/// ignored), in a subshell (its standard output discarded), prints every
/// whitelisted variable with `eval echo NAME[i]=\"${NAME[i]%CR}\"` (the
/// value unquoted: split with the file's IFS, blank runs joined by one
/// space, globbed) into a `mktemp` file, adds `NAME="value"` lines for
/// `DKMS_DIRECTIVE*` variables, and sources that file back into the main
/// shell. Values therefore go through a second expansion, and each file
/// sees the variables left by the previous ones. This type reproduces
/// exactly that (diagnostics included), then reports the whitelisted
/// variables. Files that are plain assignments take a bash-free path with
/// the same result (see ``PlainAssignments``).
package struct ShellSourcer: Sendable {
    /// One evaluation.
    package struct Request: Sendable {
        /// Shell variables (not exported) defined before any file is read,
        /// such as `kernelver` or `dkms_tree`.
        package var globals: [(name: String, value: ShellArray)]
        /// The environment bash runs with.
        package var environment: [String: String]
        /// The files to source, in order; each must exist.
        package var files: [String]
        /// The variables to carry from each file and report.
        package var names: [String]
        /// Whether the variables are unset before the first file.
        package var unsetFirst: Bool
        /// Whether upstream's deprecation warnings are printed per file.
        package var deprecationWarnings: Bool
        /// Whether what bash prints on standard error is shown.
        package var errorsShown: Bool

        /// Creates a request.
        package init(
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
    /// Where plain files are read without bash.
    private let fileSystem: any FileSystemAccess

    /// Creates a sourcer that runs bash through `runner` and reads plain
    /// files from `fileSystem`.
    package init(runner: any ProcessRunning, fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.runner = runner
        self.fileSystem = fileSystem
    }

    /// The bash program. `$__dkms_names` holds the whitelist; the result
    /// goes to file descriptor 3 as NUL-separated name, index, value.
    private static let program = #"""
shopt -s extglob
exec 3>&1 >/dev/null
# bash names functions of a -c script "environment" in diagnostics; upstream's
# read-back runs in its script, whose diagnostics name the script and the
# read-back's lines (565 lists the indices, 566 prints one element).
exec 4>&2 2> >(
    while IFS= read -r __dkms_l || [[ $__dkms_l ]]; do
        case $__dkms_l in
            "environment: line $__dkms_at_indices: "*) __dkms_l="$0: line 565: ${__dkms_l#*: line +([0-9]): }" ;;
            "environment: line $__dkms_at_element: "*) __dkms_l="$0: line 566: ${__dkms_l#*: line +([0-9]): }" ;;
        esac
        printf '%s\n' "$__dkms_l"
    done >&4
)
__dkms_filter=$!
__dkms_cr=$'\r'
read -ra __dkms_list <<<"$__dkms_names"
if [[ $__dkms_unset ]]; then
    for __dkms_n in "${__dkms_list[@]}"; do unset "$__dkms_n"; done
fi
# Sources one file the way dkms 3.4.3 does: inside a function (so that
# local, declare and readonly mean what they mean there), in a subshell
# whose standard output is a temporary file, then prints each variable as
# NAME[i]="value" with `eval echo` and its unquoted expansion (so values
# are word-split with the file's IFS and their blanks collapsed), and
# sources that file back into this shell.
__dkms_read() {
    local -r CR=$__dkms_cr
    local __dkms_tmp
    __dkms_tmp=$(mktemp) || return
    (
        exec >"$__dkms_tmp" 3>&-
        . "$1" >/dev/null
        local __dkms_v __dkms_k __dkms_d
        for __dkms_v in "${__dkms_list[@]}"; do
            for __dkms_k in $(eval echo \${!"${__dkms_v}"[@]}); do
                eval echo '$__dkms_v[$__dkms_k]=\"${'"${__dkms_v}"'[$__dkms_k]%$CR}\"'
            done
        done
        for __dkms_d in $(set | grep ^DKMS_DIRECTIVE | cut -d = -f 2-3); do
            echo "${__dkms_d%%=*}=\"${__dkms_d#*=}\""
        done
    )
    . "$__dkms_tmp"
    rm "$__dkms_tmp"
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
    # Called where set -e is ignored, as upstream calls it (in a || list).
    __dkms_read "$__dkms_file" || true
    [[ $__dkms_warn ]] && __dkms_deprecations "$__dkms_file"
done
for __dkms_n in "${__dkms_list[@]}"; do
    eval "__dkms_idx=(\"\${!$__dkms_n[@]}\")"
    for __dkms_i in "${__dkms_idx[@]}"; do
        eval "__dkms_v=\${$__dkms_n[$__dkms_i]}"
        printf '%s\0%s\0%s\0' "$__dkms_n" "$__dkms_i" "$__dkms_v" >&3
    done
done
exec 2>&4 4>&-
wait "$__dkms_filter"
"""#

    /// `$0` of the program: this executable's path, as bash names a script
    /// by its path in diagnostics (`/usr/sbin/dkms: eval: line 566: …`).
    static let programName: String = ProcessEnvironment.executablePath ?? "dkms"

    /// Renders shell variable definitions (`name=([i]='v' …)`).
    package static func definitions(_ globals: [(name: String, value: ShellArray)]) -> String {
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
    package func evaluate(_ request: Request, console: (any Console)? = nil) async -> ShellVariables {
        if let variables = evaluatePlain(request, console: console) { return variables }
        return await evaluateWithBash(request, console: console)
    }

    /// The bash-free path, or nil when some file (or a DKMS_DIRECTIVE
    /// variable) needs bash.
    func evaluatePlain(_ request: Request, console: (any Console)?) -> ShellVariables? {
        guard !request.environment.keys.contains(where: { $0.hasPrefix("DKMS_DIRECTIVE") }) else { return nil }
        var parsed: [[PlainAssignments.Assignment]] = []
        let wanted = Set(request.names)
        for file in request.files {
            // Only valid UTF-8 without NUL bytes, and only assignments to
            // the variables read back (an IFS= or PATH= changes how bash
            // reads everything after it).
            guard let bytes = fileSystem.readBytes(file), !bytes.contains(0),
                  let text = String(validating: bytes, as: UTF8.self),
                  let assignments = PlainAssignments.parse(text),
                  assignments.allSatisfy({ wanted.contains($0.name) }) else { return nil }
            parsed.append(assignments)
        }
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
            for assignment in assignments {
                variables[assignment.name].elements[assignment.index] = PlainAssignments.readBack(assignment.value)
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

    /// Evaluates the files with bash. What bash prints on standard error
    /// (when shown) goes to `console` when there is one, so that a caller
    /// can keep it with the result; else to dkms' own standard error.
    func evaluateWithBash(_ request: Request, console: (any Console)? = nil) async -> ShellVariables {
        var script = Self.definitions(request.globals)
        script += "__dkms_names=\(ShellText.quote(request.names.joined(separator: " ")))\n"
        script += "__dkms_unset=\(request.unsetFirst ? "1" : "")\n"
        script += "__dkms_warn=\(request.deprecationWarnings ? "1" : "")\n"
        // The lines of the read-back in the whole script, for the
        // diagnostics filter.
        let prefixLines = script.split(separator: "\n", omittingEmptySubsequences: false).count + 2
        let programLines = Self.program.split(separator: "\n", omittingEmptySubsequences: false)
        let indicesLine = prefixLines + (programLines.firstIndex { $0.contains("for __dkms_k in $(eval") } ?? 0)
        let elementLine = prefixLines + (programLines.firstIndex { $0.contains("eval echo '$__dkms_v[") } ?? 0)
        script += "__dkms_at_indices=\(indicesLine)\n__dkms_at_element=\(elementLine)\n"
        script += Self.program
        let outcome = await runner.run(ProcessSpec(
            Shell.bash, ["-c", script, Self.programName] + request.files,
            environment: request.environment, output: .capture,
            error: request.errorsShown ? (console == nil ? .inherit : .capture) : .discard
        ))
        if request.errorsShown, let console, !outcome.standardError.isEmpty {
            console.write(outcome.errorText, to: .standardError)
        }
        return Self.parse(outcome.standardOutput)
    }

    /// Parses the NUL-separated triples written by the program.
    static func parse(_ bytes: [UInt8]) -> ShellVariables {
        var variables = ShellVariables()
        let raw = bytes.split(separator: 0, omittingEmptySubsequences: false)
        let fields = raw.map { String(decoding: $0, as: UTF8.self) }
        var index = 0
        while index + 2 < fields.count {
            if let position = Int(fields[index + 1]) {
                variables.arrays[fields[index], default: ShellArray()].elements[position] = fields[index + 2]
                if String(validating: raw[index + 2], as: UTF8.self) == nil { variables.undecodable.insert(fields[index]) }
            }
            index += 3
        }
        return variables
    }
}
