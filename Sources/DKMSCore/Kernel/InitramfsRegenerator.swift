/// Which modules a kernel's initramfs needs, and regenerating it once at
/// the end of a transaction that installed or removed one of them
/// (upstream #337: `REMAKE_INITRD` was removed and nothing replaced it).
///
/// A module is boot-critical for kernel K when one of its module files
/// is in K's initramfs (`lsinitramfs /boot/initrd.img-K`, or `lsinitrd`
/// of dracut's `/boot/initramfs-K.img`), when it is listed in
/// `/etc/initramfs-tools/modules`, or when its dkms.conf (or
/// /etc/dkms/MODULE.conf) says `REMAKE_INITRD=yes`.
/// Tests point `/boot` and `/etc/initramfs-tools` elsewhere with
/// `SWIFT_DKMS_BOOTDIR` and `SWIFT_DKMS_INITRAMFS_TOOLS_DIR`.
struct InitramfsLayout {
    /// `/boot`.
    var bootDirectory: String
    /// `/etc/initramfs-tools`.
    var toolsDirectory: String
    /// Where they are read.
    var fileSystem: any FileSystemAccess

    init(environment: [String: String], fileSystem: any FileSystemAccess) {
        self.fileSystem = fileSystem
        func dir(_ name: String, _ fallback: String) -> String {
            environment[name].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
        }
        bootDirectory = dir("SWIFT_DKMS_BOOTDIR", "/boot")
        toolsDirectory = dir("SWIFT_DKMS_INITRAMFS_TOOLS_DIR", "/etc/initramfs-tools")
    }

    /// Whether /boot holds any initramfs image at all (else nothing can
    /// need regenerating and the tree is not even looked at).
    var hasAnyImage: Bool {
        fileSystem.entries(of: bootDirectory).contains {
            $0.hasPrefix("initrd.img-") || ($0.hasPrefix("initramfs-") && $0.hasSuffix(".img"))
        }
    }

    /// initramfs-tools' image of `kernel`.
    func debianImage(_ kernel: String) -> String { "\(bootDirectory)/initrd.img-\(kernel)" }
    /// dracut's image of `kernel`.
    func dracutImage(_ kernel: String) -> String { "\(bootDirectory)/initramfs-\(kernel).img" }

    /// Module names listed in `/etc/initramfs-tools/modules` (first word of
    /// each line that is not a comment).
    func listedModules() -> Set<String> {
        guard let text = fileSystem.readText("\(toolsDirectory)/modules") else { return [] }
        var names: Set<String> = []
        for line in text.split(separator: "\n") {
            guard let word = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first,
                  !word.hasPrefix("#") else { continue }
            names.insert(Self.canonical(String(word)))
        }
        return names
    }

    /// A module name as the kernel compares them (`-` and `_` are equal).
    static func canonical(_ name: String) -> String {
        String(name.map { $0 == "-" ? "_" : $0 })
    }

    /// The module name of a path ending in `.ko` or `.ko.<compression>`.
    static func moduleName(ofPath path: String) -> String? {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        for suffix in [".ko", ".ko.gz", ".ko.xz", ".ko.zst"] where base.hasSuffix(suffix) {
            return canonical(String(base.dropLast(suffix.count)))
        }
        return nil
    }
}

/// One module version's part in a transaction: what it installs under
/// which names, and whether it asks for the initramfs to be remade.
struct InstalledModuleFacts: Hashable {
    var module: String
    var version: String
    var kernel: String
    var arch: String
    /// Canonical names of its module files.
    var names: Set<String>
    /// `REMAKE_INITRD=yes`.
    var remakeInitrd: Bool
}

/// The initramfs side of a transaction: which installed modules a
/// kernel's initramfs needs, and regenerating the images that a
/// transaction made stale. Built by the engine for each use from its
/// current settings, tree and children's environment; what the images
/// contain is listed once per kernel into a cache shared across uses.
struct InitramfsRegenerator {
    /// The module names found in each kernel's initramfs, kept for the
    /// whole command.
    final class Listings {
        /// Canonical module names by kernel.
        var byKernel: [String: Set<String>] = [:]
    }

    /// `/boot` and `/etc/initramfs-tools`.
    var layout: InitramfsLayout
    /// The dkms tree.
    var tree: DKMSTree
    /// The file system the trees are read and changed through (the tree's).
    var fileSystem: any FileSystemAccess { tree.fileSystem }
    /// `/etc/dkms` (for `MODULE.conf`'s `REMAKE_INITRD`).
    var etcDirectory: String
    /// Runs the listers and the generators.
    var runner: any ProcessRunning
    /// The environment of children (its `PATH` finds the programs).
    var environment: [String: String]
    /// What is known of the images already.
    var listings: Listings

    /// Runs a program with the children's environment.
    private func run(_ executable: String, _ arguments: [String], output: ProcessOutputTarget,
                     error: ProcessErrorTarget) async -> ProcessOutcome {
        await runner.run(ProcessSpec(executable, arguments, environment: environment, output: output, error: error))
    }

    /// Whether a program can be found on `PATH` (`command -v`).
    private func commandExists(_ name: String) -> Bool {
        ShellCommand.isCommand(name, path: environment["PATH"])
    }

    /// The canonical module names in the initramfs of `kernel` (nil when it
    /// has none or no lister is installed). Listed once per kernel.
    func contents(_ kernel: String) async -> Set<String>? {
        if let known = listings.byKernel[kernel] { return known }
        var lister: (String, [String])?
        if fileSystem.isRegularFile(layout.debianImage(kernel)), commandExists("lsinitramfs") {
            lister = ("lsinitramfs", [layout.debianImage(kernel)])
        } else if fileSystem.isRegularFile(layout.dracutImage(kernel)), commandExists("lsinitrd") {
            lister = ("lsinitrd", ["--kver", kernel, layout.dracutImage(kernel)])
        }
        guard let (program, arguments) = lister else { return nil }
        let outcome = await run(program, arguments, output: .capture, error: .discard)
        guard outcome.status == 0 else { return nil }
        let names = Set(outcome.outputText.split(separator: "\n").compactMap { InitramfsLayout.moduleName(ofPath: String($0)) })
        listings.byKernel[kernel] = names
        return names
    }

    /// Why `facts` must be in the initramfs of `kernel`, or nil when it
    /// need not. `lookElsewhere`: when `kernel` has no initramfs yet (a
    /// kernel being installed), the initramfs of the other kernels in
    /// /boot stands in for it.
    func reason(_ facts: InstalledModuleFacts, kernel: String, lookElsewhere: Bool = false) async -> String? {
        if facts.remakeInitrd { return "REMAKE_INITRD=yes" }
        if !facts.names.isDisjoint(with: layout.listedModules()) { return "listed in \(layout.toolsDirectory)/modules" }
        if let contents = await contents(kernel) {
            return facts.names.isDisjoint(with: contents) ? nil : "in the initramfs of \(kernel)"
        }
        guard lookElsewhere else { return nil }
        for entry in VersionSort.sorted(fileSystem.entries(of: layout.bootDirectory)).reversed() {
            var other = ""
            if entry.hasPrefix("initrd.img-") { other = String(entry.dropFirst("initrd.img-".count)) }
            if entry.hasPrefix("initramfs-"), entry.hasSuffix(".img") {
                other = String(entry.dropFirst("initramfs-".count).dropLast(".img".count))
            }
            guard !other.isEmpty, other != kernel, let contents = await contents(other) else { continue }
            if !facts.names.isDisjoint(with: contents) { return "in the initramfs of \(other)" }
        }
        return nil
    }

    /// What the tree says about one built module version: its module file
    /// names (from the built directory, else dkms.conf) and `REMAKE_INITRD`.
    func facts(module: String, version: String, kernel: String, arch: String) -> InstalledModuleFacts {
        var names: Set<String> = []
        let built = tree.builtDirectory(module, version, kernel, arch) + "/module"
        for entry in fileSystem.entries(of: built) {
            if let name = InitramfsLayout.moduleName(ofPath: entry) { names.insert(name) }
        }
        var remake = false
        for file in [tree.confFile(module, version), "\(etcDirectory)/\(module).conf"] {
            guard let text = fileSystem.readText(file) else { continue }
            for line in text.split(separator: "\n") {
                let trimmed = line.filter { $0 != " " && $0 != "\t" && $0 != "\"" && $0 != "'" }
                if trimmed.hasPrefix("BUILT_MODULE_NAME["), let eq = trimmed.firstIndex(of: "=") {
                    let value = trimmed[trimmed.index(after: eq)...]
                    if !value.isEmpty && !value.contains("$") { names.insert(InitramfsLayout.canonical(String(value))) }
                }
                if trimmed.hasPrefix("REMAKE_INITRD=") {
                    remake = trimmed.dropFirst("REMAKE_INITRD=".count).lowercased() == "yes"
                }
            }
        }
        return InstalledModuleFacts(module: module, version: version, kernel: kernel, arch: arch, names: names, remakeInitrd: remake)
    }

    /// Every installed module version, with its facts.
    func installedFacts() -> Set<InstalledModuleFacts> {
        var result: Set<InstalledModuleFacts> = []
        guard layout.hasAnyImage else { return result }
        for record in tree.status() {
            if case .built(let m, let v, let k, let a, let state) = record, state == .installed {
                result.insert(facts(module: m, version: v, kernel: k, arch: a))
            }
        }
        return result
    }

    /// Compares the installed modules before and after a transaction and
    /// regenerates, once per kernel, the initramfs of every kernel that
    /// has one and needs a module that came or went. Messages (and with
    /// `verbose` the generator's output) go to the console's stderr
    /// (upstream prints nothing here).
    func regenerate(after before: Set<InstalledModuleFacts>, verbose: Bool, console: any Console) async {
        let after = installedFacts()
        let changed = before.symmetricDifference(after)
        guard !changed.isEmpty else { return }
        var reasons: [String: [String]] = [:]
        for facts in changed.sorted(by: { ($0.kernel, $0.module) < ($1.kernel, $1.module) }) {
            let kernel = facts.kernel
            let hasImage = fileSystem.isRegularFile(layout.debianImage(kernel)) || fileSystem.isRegularFile(layout.dracutImage(kernel))
            guard hasImage, let reason = await reason(facts, kernel: kernel) else { continue }
            reasons[kernel, default: []].append("\(facts.module)/\(facts.version) (\(reason))")
        }
        for kernel in VersionSort.sorted(Array(reasons.keys)) {
            let modules = reasons[kernel] ?? []
            var command: (String, [String])?
            if fileSystem.isRegularFile(layout.debianImage(kernel)), commandExists("update-initramfs") {
                command = ("update-initramfs", ["-u", "-k", kernel])
            } else if commandExists("dracut") {
                command = ("dracut", ["-f", "--kver", kernel])
            }
            guard let (program, arguments) = command else {
                console.errorLine("dkms: the initramfs of \(kernel) needs \(modules.joined(separator: ", ")) but neither update-initramfs nor dracut is installed; regenerate it by hand.")
                continue
            }
            // Quiet unless --verbose: what upstream prints for the transaction
            // stays all there is; the regeneration is recorded in its log.
            let announcement = "dkms: regenerating the initramfs of \(kernel) for \(modules.joined(separator: ", ")): \(program) \(arguments.joined(separator: " "))"
            if verbose { console.errorLine(announcement) }
            listings.byKernel[kernel] = nil
            let outcome = await run(program, arguments, output: .capture, error: .mergeWithOutput)
            if verbose, !outcome.outputText.isEmpty { console.write(outcome.outputText, to: .standardError) }
            if fileSystem.makeDirectories(tree.logsDirectory) {
                fileSystem.writeText(DateText.date() + "\n" + announcement + "\n" + outcome.outputText
                                     + "# exit code: \(outcome.status)\n", to: tree.initramfsLog, append: true)
            }
            if outcome.status != 0 {
                console.errorLine("dkms: \(program) failed for \(kernel) (status \(outcome.status)); the initramfs may lack the module.")
            }
        }
    }
}

