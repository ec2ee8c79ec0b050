/// What `dh_dkms` was asked to do (debhelper's common options plus its own).
package struct DHDKMSOptions: Sendable, Equatable {
    /// `-p`/`--package`: act on these packages only.
    package var packages: [String] = []
    /// `-N`/`--no-package`: skip these packages.
    package var excluded: [String] = []
    /// `-i`/`--indep`: architecture-independent packages only.
    package var independentOnly = false
    /// `-a`/`--arch`: architecture-dependent packages only.
    package var architectureOnly = false
    /// `-v`/`--verbose` (or `DH_VERBOSE`): print commands.
    package var verbose = false
    /// `--no-act`: print commands, change nothing.
    package var noAct = false
    /// `-l`/`--legacy`: also ship common.postinst for old dkms.
    package var legacy = false
    /// `-V` (nil: not given; empty: the package's upstream version).
    package var version: String?
    /// `--sourcedir`/`--sourcedirectory`: where listed conf files are searched too.
    package var sourceDirectory: String?
    /// A file named after `--` (used when no debian/PACKAGE.dkms exists).
    package var file: String?

    /// Creates default options.
    package init() {}
}

/// A failure of `dh_dkms`, reported as `dh_dkms: error: MESSAGE`.
package struct DHDKMSError: Error, Sendable, Equatable {
    /// The message.
    package var message: String
    /// Creates an error.
    package init(_ message: String) { self.message = message }
}

/// The debhelper addon for DKMS packages, with the behaviour of Debian's
/// dh-dkms: it installs the package's dkms.conf as
/// `usr/src/NAME-VERSION/dkms.conf`, adds maintainer-script snippets that
/// register and build the module through common.postinst (postinst) and
/// remove it from every kernel (prerm), and a `misc:Depends` on dkms.
package struct DHDKMS {
    /// The version shown in the autoscript markers.
    package static let version = "3.4.3"

    /// The source package directory (holding `debian/`).
    package var directory: String
    /// What to do.
    package var options: DHDKMSOptions
    let console: any Console
    let runner: any ProcessRunning
    let environment: [String: String]
    /// Where the package's files are read and written.
    let fileSystem: any FileSystemAccess

    /// Creates the addon for a source package directory.
    package init(directory: String, options: DHDKMSOptions, console: any Console,
                runner: any ProcessRunning, environment: [String: String],
                fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.directory = directory
        self.options = options
        self.console = console
        self.runner = runner
        self.environment = environment
        self.fileSystem = fileSystem
    }

    /// The postinst snippet (NAME and VERSION substituted).
    static let postinstSnippet = """
        DKMS_NAME=#MODULE_NAME#
        DKMS_PACKAGE_NAME=$DKMS_NAME-dkms
        DKMS_VERSION=#MODULE_VERSION#

        if [ "$1" = "configure" ]; then
        \tdkms_postinst_ran=no
        \tfor dkms_postinst in /usr/lib/dkms/common.postinst /usr/share/$DKMS_PACKAGE_NAME/postinst; do
        \t\tif [ -f "$dkms_postinst" ]; then
        \t\t\t"$dkms_postinst" "$DKMS_NAME" "$DKMS_VERSION" "/usr/share/$DKMS_PACKAGE_NAME" "" "$2"
        \t\t\tdkms_postinst_ran=yes
        \t\t\tbreak
        \t\tfi
        \tdone
        \tif [ "$dkms_postinst_ran" = no ]; then
        \t\techo "ERROR: DKMS version is too old and $DKMS_PACKAGE_NAME was not"
        \t\techo "built with legacy DKMS support."
        \t\techo "You must either rebuild $DKMS_PACKAGE_NAME with legacy postinst"
        \t\techo "support or upgrade DKMS to a more current version."
        \t\texit 1
        \tfi
        fi

        """

    /// The prerm snippet (NAME and VERSION substituted).
    static let prermSnippet = """
        DKMS_NAME=#MODULE_NAME#
        DKMS_VERSION=#MODULE_VERSION#

        case "$1" in
        \tremove|upgrade|deconfigure)
        \t\tif [ -n "$(dkms status -m "$DKMS_NAME" -v "$DKMS_VERSION")" ]; then
        \t\t\tdkms remove -m "$DKMS_NAME" -v "$DKMS_VERSION" --all
        \t\tfi
        \t;;
        esac

        """

    /// The binary packages to act on.
    func selectedPackages() throws(DHDKMSError) -> [DebianControl.BinaryPackage] {
        guard let text = fileSystem.readText(directory + "/debian/control") else {
            throw DHDKMSError("cannot read debian/control")
        }
        var packages = DebianControl(text: text).packages
        if options.independentOnly && !options.architectureOnly { packages = packages.filter { $0.architecture == "all" } }
        if options.architectureOnly && !options.independentOnly { packages = packages.filter { $0.architecture != "all" } }
        if !options.packages.isEmpty {
            let known = Set(packages.map(\.name))
            for name in options.packages where !known.contains(name) {
                throw DHDKMSError("Requested unknown package \(name) via -p/--package, expected one of: \(packages.map(\.name).joined(separator: " "))")
            }
            packages = packages.filter { options.packages.contains($0.name) }
        }
        return packages.filter { !options.excluded.contains($0.name) }
    }

    /// Runs dh_dkms for every selected package.
    package func run() async throws(DHDKMSError) {
        guard let text = fileSystem.readText(directory + "/debian/control") else {
            throw DHDKMSError("cannot read debian/control")
        }
        let mainPackage = DebianControl(text: text).packages.first?.name
        for package in try selectedPackages() {
            try await process(package.name, isMain: package.name == mainPackage)
        }
    }

    /// debhelper's `pkgfile`: debian/PACKAGE.dkms, or debian/dkms for the main package.
    func packageFile(_ package: String, isMain: Bool) -> String? {
        let specific = "debian/\(package).dkms"
        if fileSystem.isRegularFile(directory + "/" + specific) { return specific }
        if isMain && fileSystem.isRegularFile(directory + "/debian/dkms") { return "debian/dkms" }
        return nil
    }

    func process(_ package: String, isMain: Bool) async throws(DHDKMSError) {
        let staging = "debian/\(package)"
        var confPath: String
        if let listed = packageFile(package, isMain: isMain) {
            let text = fileSystem.readText(directory + "/" + listed) ?? ""
            if Self.assignment("PACKAGE_NAME", in: text, requireQuotes: true) != nil {
                confPath = listed
            } else {
                let names = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
                    .filter { !$0.hasPrefix("#") }
                guard names.count <= 2 else { throw DHDKMSError("cannot list more than one file in \(listed)!") }
                guard let first = names.first else { throw DHDKMSError("cannot read \(listed): empty") }
                let searchDirs = [options.sourceDirectory ?? ".", "debian/tmp"]
                confPath = searchDirs.map { $0 == "." ? first : "\($0)/\(first)" }
                    .first { fileSystem.exists(directory + "/" + $0) } ?? first
            }
        } else if let file = options.file {
            confPath = file
        } else {
            return
        }
        if options.verbose { console.line("\tinstalling \(confPath) as dkms.conf") }
        guard let conf = fileSystem.readText(directory + "/" + confPath) ?? fileSystem.readText(confPath) else {
            throw DHDKMSError("cannot read \(confPath): No such file or directory")
        }
        let name = Self.assignment("PACKAGE_NAME", in: conf, requireQuotes: false)
        var version = Self.assignment("PACKAGE_VERSION", in: conf, requireQuotes: false)
        let exclusiveConfig = Self.assignment("BUILD_EXCLUSIVE_CONFIG", in: conf, requireQuotes: false)

        if let exclusiveConfig, !exclusiveConfig.isEmpty {
            addDependency(package, "dkms (>= 3.0.3-4~)")
        } else if options.legacy {
            try await doit(["install", "-p", "-D", "-m755", "/usr/lib/dkms/common.postinst", "\(staging)/usr/share/\(package)/postinst"])
            addDependency(package, "dkms")
        } else {
            addDependency(package, "dkms (>= 2.1.0.0)")
        }
        if let requested = options.version {
            var value = requested
            if value.isEmpty { value = try await upstreamVersion() }
            let copy = "debian/\(package).dkms.debhelper"
            try await doit(["cp", "-a", confPath, copy])
            try await doit(["sed", "-i", "s/#MODULE_VERSION#/\(value)/g", copy])
            confPath = copy
            version = value
        }
        guard let moduleName = name else { throw DHDKMSError("could not determine package name") }
        guard let moduleVersion = version else { throw DHDKMSError("could not determine package version") }
        autoscript(package, script: "prerm", snippet: Self.prermSnippet, name: moduleName, version: moduleVersion)
        autoscript(package, script: "postinst", snippet: Self.postinstSnippet, name: moduleName, version: moduleVersion)
        try await doit(["install", "-p", "-D", "-m644", confPath, "\(staging)/usr/src/\(moduleName)-\(moduleVersion)/dkms.conf"])
    }

    /// The last `NAME=value` (optionally quoted) in a dkms.conf, read the
    /// way dh_dkms reads it: as text, not by running bash.
    static func assignment(_ name: String, in text: String, requireQuotes: Bool) -> String? {
        var found: String?
        for line in text.split(separator: "\n") {
            guard let range = Substring(line).range(of: name + "=") else { continue }
            var value = line[range.upperBound...]
            if let quote = value.first, quote == "\"" || quote == "'" {
                value = value.dropFirst()
                guard let end = value.lastIndex(of: quote) else {
                    if !requireQuotes { found = String(line[range.upperBound...]) }
                    continue
                }
                found = String(value[..<end])
            } else if !requireQuotes {
                found = String(value)
            }
        }
        return found
    }

    /// The upstream version from debian/changelog (Debian revision removed).
    func upstreamVersion() async throws(DHDKMSError) -> String {
        let outcome = await runner.run(ProcessSpec("dpkg-parsechangelog", ["-SVersion"], environment: environment,
                                                   workingDirectory: directory, output: .capture, error: .inherit))
        var version = outcome.outputText.trimmingTrailingNewlines()
        guard outcome.status == 0, !version.isEmpty else { throw DHDKMSError("could not read the version from debian/changelog") }
        if let dash = version.lastIndex(of: "-") { version = String(version[..<dash]) }
        return version
    }

    /// debhelper's `doit`: runs (and in verbose mode shows) a command.
    func doit(_ command: [String]) async throws(DHDKMSError) {
        if options.verbose || options.noAct { console.line("\t" + command.map(Self.displayQuoted).joined(separator: " ")) }
        if options.noAct { return }
        let outcome = await runner.run(ProcessSpec(command[0], Array(command.dropFirst()), environment: environment,
                                                   workingDirectory: directory))
        if outcome.status != 0 {
            throw DHDKMSError("\(command.joined(separator: " ")) returned exit code \(outcome.status)")
        }
    }

    static func displayQuoted(_ word: String) -> String {
        word.contains(where: { " \t'\"$\\".contains($0) }) ? ShellText.quote(word) : word
    }

    /// debhelper's `addsubstvar`: adds a dependency to `misc:Depends` in
    /// debian/PACKAGE.substvars unless it is already there.
    func addDependency(_ package: String, _ dependency: String) {
        if options.noAct { return }
        let path = "\(directory)/debian/\(package).substvars"
        var lines = (fileSystem.readText(path) ?? "").split(separator: "\n").map(String.init)
        if let index = lines.firstIndex(where: { $0.hasPrefix("misc:Depends=") }) {
            let existing = lines[index].dropFirst("misc:Depends=".count).split(separator: ",").map { $0.trimmingCharacters() }
            if !existing.contains(dependency) {
                lines[index] = "misc:Depends=" + (existing.filter { !$0.isEmpty } + [dependency]).joined(separator: ", ")
            }
        } else {
            lines.append("misc:Depends=\(dependency)")
        }
        fileSystem.writeText(lines.joined(separator: "\n") + "\n", to: path)
    }

    /// debhelper's `autoscript`: appends (postinst) or prepends (prerm) a
    /// marked snippet to debian/PACKAGE.SCRIPT.debhelper.
    func autoscript(_ package: String, script: String, snippet: String, name: String, version: String) {
        if options.noAct { return }
        let body = snippet.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            var text = String(line)
            if let range = Substring(text).range(of: "#MODULE_NAME#") { text.replaceSubrange(range, with: name) }
            if let range = Substring(text).range(of: "#MODULE_VERSION#") { text.replaceSubrange(range, with: version) }
            return text
        }.joined(separator: "\n")
        let block = "# Automatically added by dh_dkms/\(Self.version)\n" + body + "# End automatically added section\n"
        let path = "\(directory)/debian/\(package).\(script).debhelper"
        let existing = fileSystem.readText(path) ?? ""
        let prepend = script == "prerm" || script == "postrm"
        fileSystem.writeText(prepend ? block + existing : existing + block, to: path)
    }
}
