/// The lines of `dkms status` and the entries of `status --json`, read
/// in one scope (a committed read's reader, ``Engine/readingCommittedState(_:)``).
struct StatusLines: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// What upstream's `module_status_built_extra` looks at, for one built
    /// or installed line. It works in a subshell: what reading the line's dkms.conf changes in
    /// the scope stays there.
    func statusFacts(module: String, version: String, kernel: String, arch: String, installed: Bool) async -> StatusEntry.Facts {
        await engine.inSubshell { shell in
            await StatusLines(engine: shell).readStatusFacts(module: module, version: version, kernel: kernel, arch: arch, installed: installed)
        }
    }

    private func readStatusFacts(module: String, version: String, kernel: String, arch: String, installed: Bool) async -> StatusEntry.Facts {
        var facts = StatusEntry.Facts()
        engine.updateModuleSuffix(for: kernel)
        let config: ModuleConfig
        do {
            config = try await ConfReader(engine: engine).readConf(
                kernel: kernel, arch: arch, module: module, version: version,
                file: "\(dkmsTree)/\(module)/\(version)/source/dkms.conf").config
        } catch {
            if let diagnostic = error.diagnostic { console.report(diagnostic) }
            facts.unreadableConf = true
            return facts
        }
        facts.originalModules = engine.originalModulesExist(module, kernel, arch)
        var files: ModuleFileContents? = ModuleFileContents(fileSystem: fileSystem)
        for index in config.modules.indices where config.isBuildable(moduleAt: index) {
            let name = config.modules[index].destName
            let built = engine.compressedOrUncompressed(engine.tree.builtDirectory(module, version, kernel, arch) + "/module", name)
            if built.isEmpty {
                if facts.problem == nil { facts.problem = .missing }
                continue
            }
            guard installed else { continue }
            let location = await UninstallStep(engine: engine).actualDestination(config, index: index, module: module, kernel: kernel, arch: arch, files: &files) ?? ""
            let installedFile = engine.compressedOrUncompressed("\(installTree)/\(kernel)\(location)", name)
            if !installedFile.isEmpty { facts.installedPaths.append(installedFile) }
            if installedFile.isEmpty || files?.sameContent(built, installedFile) != true {
                if facts.problem == nil { facts.problem = .differences }
            }
        }
        return facts
    }

    /// The suffixes upstream appends to a built/installed status line.
    func statusSuffix(module: String, version: String, kernel: String, arch: String) async -> String {
        let facts = await statusFacts(module: module, version: version, kernel: kernel, arch: arch,
                                      installed: engine.tree.isActive(module, version, kernel, arch))
        return facts.textSuffix
    }

    /// Upstream's `show_status`: one line per added, built or installed
    /// module version, filtered by the command line. Each path is asked
    /// about once (``FileSystemSnapshot``).
    func statusAction() async { await FileSystemSnapshot.reading { await showStatus() } }

    func showStatus() async {
        let module = engine.scope.module
        let version = engine.scope.version
        if settings.kernels.isEmpty {
            await printStatus(module: module, version: version, kernel: "", arch: settings.arches.first ?? "")
        } else {
            for (kernel, arch) in engine.kernelArchPairs {
                await printStatus(module: module, version: version, kernel: kernel, arch: arch)
            }
        }
    }

    /// Upstream's `do_status`.
    func printStatus(module: String, version: String, kernel: String, arch: String) async {
        await forEachStatusLine(module: module, version: version, kernel: kernel, arch: arch) { console.line($0) }
    }

    /// Computes upstream's status lines one by one; a broken module's error
    /// goes to standard error right after its line.
    func forEachStatusLine(module: String, version: String, kernel: String, arch: String,
                           _ emit: (String) -> Void) async {
        for record in engine.tree.status(module: module, version: version, kernel: kernel, arch: arch) {
            switch record {
            case .broken(let m, let v):
                emit("\(m)/\(v): broken")
                console.error("\(m)/\(v): Missing the module source directory or the symbolic link pointing to it.",
                              "Manual intervention is required!")
            case .added(let m, let v):
                emit("\(m)/\(v): added")
            case .built(let m, let v, let k, let a, let builtState):
                let facts = await statusFacts(module: m, version: v, kernel: k, arch: a, installed: builtState == .installed)
                emit("\(m)/\(v), \(k), \(a): \(builtState.rawValue)" + facts.textSuffix)
            }
        }
    }
}

extension StatusLines {
    /// The status as data (for `status --json`): every record of the
    /// requested kernels with the facts behind upstream's suffixes.
    package func statusEntries() async -> [StatusEntry] { await FileSystemSnapshot.reading { await readStatusEntries() } }

    func readStatusEntries() async -> [StatusEntry] {
        let module = engine.scope.module
        let version = engine.scope.version
        let filters: [(String, String)] = settings.kernels.isEmpty
            ? [("", settings.arches.first ?? "")] : engine.kernelArchPairs
        var entries: [StatusEntry] = []
        for (kernel, arch) in filters {
            for record in engine.tree.status(module: module, version: version, kernel: kernel, arch: arch) {
                switch record {
                case .broken(let m, let v):
                    let link = "\(dkmsTree)/\(m)/\(v)/source"
                    let reason = fileSystem.isSymlink(link)
                        ? "the source link \(link) points to a missing directory"
                        : "the source link \(link) is missing while \(engine.sourceTree)/\(m)-\(v) exists"
                    entries.append(StatusEntry(module: m, version: v, state: "broken", brokenReason: reason))
                case .added(let m, let v):
                    entries.append(StatusEntry(module: m, version: v, state: "added"))
                case .built(let m, let v, let k, let a, let builtState):
                    var facts = await statusFacts(module: m, version: v, kernel: k, arch: a, installed: builtState == .installed)
                    if builtState == .installed { facts.signature = await SecureBootNotice(engine: engine).signatureFacts(facts.installedPaths) }
                    facts.origin = BuildOrigin(record: fileSystem.readText(engine.tree.cacheRecord(m, v, k, a)))
                    entries.append(StatusEntry(module: m, version: v, state: builtState.rawValue, kernel: k, arch: a, facts: facts))
                }
            }
        }
        return entries
    }
}

/// Where the modules of a build came from, as the tree records it.
package struct BuildOrigin: Sendable, Equatable {
    /// They came from the module cache (not from running make).
    package var fromCache: Bool
    /// The build's cache key, when the cache was used.
    package var key: String?
    /// The shared cache location the entry was fetched from (nil: built
    /// here, or the local cache held it).
    package var sharedLocation: String?
    /// The fleet lookup key the entry was found by (a kernel without
    /// headers here), nil otherwise.
    package var lookup: String?

    /// Reads a record (`cache KEY`, `built KEY` or `built`, then optional
    /// `shared LOCATION` and `lookup LOOKUP` lines); nil when absent or unknown.
    package init?(record: String?) {
        let lines = (record ?? "").split(separator: "\n").map(String.init)
        let words = (lines.first ?? "").split(separator: " ").map(String.init)
        guard let first = words.first, ["cache", "built"].contains(first), words.count <= 2 else { return nil }
        fromCache = first == "cache"
        key = words.count == 2 ? words[1] : nil
        for line in lines.dropFirst() {
            if line.hasPrefix("shared ") { sharedLocation = String(line.dropFirst(7)) }
            if line.hasPrefix("lookup "), CacheKey(hex: String(line.dropFirst(7))) != nil { lookup = String(line.dropFirst(7)) }
        }
    }

    /// The record's text.
    package var record: String {
        var text = (fromCache ? "cache" : "built") + (key.map { " " + $0 } ?? "") + "\n"
        if let sharedLocation { text += "shared \(sharedLocation)\n" }
        if let lookup { text += "lookup \(lookup)\n" }
        return text
    }

    /// How `dkms cache stats` says it: where the modules came from.
    package var shown: String {
        let entry = key.map { " (entry \(String($0.prefix(12))))" } ?? ""
        guard fromCache else { return key == nil ? "built here (module cache off)" : "built here, stored" + entry }
        let how = lookup.map { " by the kernel's identity (lookup \(String($0.prefix(12))))" } ?? ""
        guard let sharedLocation else { return "from the local cache\(how)\(entry)" }
        return "fetched from \(sharedLocation)\(how)\(entry)"
    }

    /// Creates an origin.
    package init(fromCache: Bool, key: String?, sharedLocation: String? = nil, lookup: String? = nil) {
        self.fromCache = fromCache
        self.key = key
        self.sharedLocation = sharedLocation
        self.lookup = lookup
    }
}

/// The module cache's figures, as `status --json` reports them.
package struct CacheReport: Sendable, Equatable {
    /// The cache is on (`build_cache`).
    package var enabled: Bool
    /// Entries and the bytes they take.
    package var entries: Int
    /// Bytes.
    package var size: Int
    /// Counters since the cache was made: `hits`, `misses`, `stored`,
    /// `evicted`, `fetched`, `refused`.
    package var counters: [String: Int]
}

/// One line of `dkms status`, as data.
package struct StatusEntry: Sendable, Equatable {
    /// What is known beyond the scope.
    package struct Facts: Sendable, Equatable {
        /// Which of upstream's exclusive suffixes applies.
        package enum Problem: String, Sendable {
            case missing
            case differences
        }
        /// `m/original_module/K/A` exists.
        package var originalModules = false
        /// The first problem found, as upstream reports only one.
        package var problem: Problem?
        /// Where the installed module files are.
        package var installedPaths: [String] = []
        /// The dkms.conf could not be read (upstream prints its error).
        package var unreadableConf = false
        /// Installed entries (`status --json` only): how the installed
        /// files are signed; nil when not looked at or unreadable.
        package var signature: Signature?
        /// Built and installed entries (`status --json` only): where the
        /// modules of the last build came from; nil when not recorded.
        package var origin: BuildOrigin?

        /// No facts yet.
        package init() {}

        /// Upstream's text suffix.
        package var textSuffix: String {
            var suffix = originalModules ? " (Original modules exist)" : ""
            switch problem {
            case .missing: suffix += " (Built modules are missing in the kernel modules folder)"
            case .differences: suffix += " (Differences between built and installed modules)"
            case nil: break
            }
            return suffix
        }
    }

    /// Whether an installed module is signed, and with which key.
    package struct Signature: Sendable, Equatable {
        /// Every installed file carries a signature.
        package var signed: Bool
        /// `signer` of the first signed file.
        package var signer: String?
        /// `sig_key` of the first signed file.
        package var keyID: String?

        /// Creates the description.
        package init(signed: Bool, signer: String?, keyID: String?) {
            self.signed = signed
            self.signer = signer
            self.keyID = keyID
        }
    }

    /// The module name.
    package var module: String
    /// The module version.
    package var version: String
    /// `added`, `built`, `installed` or `broken`.
    package var state: String
    /// The kernel (built and installed entries).
    package var kernel: String?
    /// The architecture (built and installed entries).
    package var arch: String?
    /// Suffix facts (built and installed entries).
    package var facts = Facts()
    /// Why a broken entry is broken.
    package var brokenReason: String?

    /// Creates an entry.
    package init(module: String, version: String, state: String, kernel: String? = nil, arch: String? = nil,
                facts: Facts = Facts(), brokenReason: String? = nil) {
        self.module = module
        self.version = version
        self.state = state
        self.kernel = kernel
        self.arch = arch
        self.facts = facts
        self.brokenReason = brokenReason
    }
}
