import DKMSCore

/// The `dh_dkms` command: debhelper's option conventions, then ``DHDKMS``.
package enum DHDKMSCommand {
    /// The status debhelper's `error` ends with when run by a build (perl's
    /// `die` exits with the pending errno, ENOTTY there).
    static let errorStatus: Int32 = 25

    /// Parses debhelper-style options. Returns the unknown option on failure.
    static func parse(_ arguments: [String], environment: [String: String]) -> Result<DHDKMSOptions, UnknownOption> {
        var options = DHDKMSOptions()
        options.verbose = !(environment["DH_VERBOSE"] ?? "").isEmpty && environment["DH_VERBOSE"] != "0"
        var index = 0
        func value(_ word: String, short: String, long: String) -> String? {
            if word.hasPrefix(long + "=") { return String(word.dropFirst(long.count + 1)) }
            if word == long || word == short {
                index += 1
                return index < arguments.count ? arguments[index] : ""
            }
            if word.hasPrefix(short) && !short.isEmpty && word.count > short.count { return String(word.dropFirst(short.count)) }
            return nil
        }
        while index < arguments.count {
            let word = arguments[index]
            if word == "--" {
                if index + 1 < arguments.count { options.file = arguments[index + 1] }
                break
            }
            switch word {
            case "-i", "--indep": options.independentOnly = true
            case "-a", "--arch": options.architectureOnly = true
            case "-v", "--verbose": options.verbose = true
            case "--no-act": options.noAct = true
            case "-l", "--legacy": options.legacy = true
            case "-V":
                if index + 1 < arguments.count, !arguments[index + 1].hasPrefix("-") {
                    index += 1
                    options.version = arguments[index]
                } else {
                    options.version = ""
                }
            default:
                if let package = value(word, short: "-p", long: "--package") {
                    options.packages.append(package)
                } else if let package = value(word, short: "-N", long: "--no-package") {
                    options.excluded.append(package)
                } else if word.hasPrefix("-V") {
                    options.version = String(word.dropFirst(word.hasPrefix("-V=") ? 3 : 2))
                } else if let dir = value(word, short: "", long: "--sourcedir") ?? value(word, short: "", long: "--sourcedirectory") {
                    options.sourceDirectory = dir
                } else if word.hasPrefix("-O") || word.hasPrefix("-P") || word.hasPrefix("--tmpdir") || word == "-s" || word == "--same-arch" {
                    // Options dh passes to every helper, or that do not concern dh_dkms.
                } else if word.hasPrefix("-") {
                    return .failure(UnknownOption(word: word))
                } else if options.file == nil {
                    options.file = word
                }
            }
            index += 1
        }
        return .success(options)
    }

    /// An option dh_dkms does not know.
    struct UnknownOption: Error {
        var word: String
        /// Getopt::Long's wording: the option without its dashes.
        var message: String {
            var name = Substring(word)
            while name.hasPrefix("-") { name = name.dropFirst() }
            return "Unknown option: \(name.split(separator: "=").first ?? name)"
        }
    }

    /// Runs dh_dkms in the current directory.
    /// - Returns: the exit status.
    package static func main(arguments: [String], environment: [String: String], directory: String,
                            console: any Console = TerminalConsole(), runner: any ProcessRunning = SubprocessRunner()) async -> Int32 {
        let options: DHDKMSOptions
        switch parse(arguments, environment: environment) {
        case .success(let parsed):
            options = parsed
        case .failure(let unknown):
            console.errorLine(unknown.message)
            console.errorLine("dh_dkms: error: unknown option or error during option parsing; aborting")
            return errorStatus
        }
        do {
            try await DHDKMS(directory: directory, options: options, console: console, runner: runner,
                             environment: environment).run()
            return 0
        } catch {
            console.errorLine("dh_dkms: error: \(error.message)")
            return errorStatus
        }
    }
}
