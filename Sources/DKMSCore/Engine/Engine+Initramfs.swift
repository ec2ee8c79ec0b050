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

    init(environment: [String: String]) {
        func dir(_ name: String, _ fallback: String) -> String {
            environment[name].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
        }
        bootDirectory = dir("SWIFT_DKMS_BOOTDIR", "/boot")
        toolsDirectory = dir("SWIFT_DKMS_INITRAMFS_TOOLS_DIR", "/etc/initramfs-tools")
    }

    /// Whether /boot holds any initramfs image at all (else nothing can
    /// need regenerating and the tree is not even looked at).
    var hasAnyImage: Bool {
        FileSystem.entries(of: bootDirectory).contains {
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
        guard let text = FileSystem.readText("\(toolsDirectory)/modules") else { return [] }
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

extension Engine {
    var initramfsLayout: InitramfsLayout { InitramfsLayout(environment: settings.environment) }

    /// The canonical module names in the initramfs of `kernel` (nil when it
    /// has none or no lister is installed). Listed once per kernel.
    func initramfsContents(_ kernel: String) async -> Set<String>? {
        if let known = initramfsContentsByKernel[kernel] { return known }
        let layout = initramfsLayout
        var lister: (String, [String])?
        if FileSystem.isRegularFile(layout.debianImage(kernel)), commandExists("lsinitramfs") {
            lister = ("lsinitramfs", [layout.debianImage(kernel)])
        } else if FileSystem.isRegularFile(layout.dracutImage(kernel)), commandExists("lsinitrd") {
            lister = ("lsinitrd", ["--kver", kernel, layout.dracutImage(kernel)])
        }
        guard let (program, arguments) = lister else { return nil }
        let outcome = await run(program, arguments, output: .capture, error: .discard)
        guard outcome.status == 0 else { return nil }
        let names = Set(outcome.outputText.split(separator: "\n").compactMap { InitramfsLayout.moduleName(ofPath: String($0)) })
        initramfsContentsByKernel[kernel] = names
        return names
    }

    /// Why `facts` must be in the initramfs of `kernel`, or nil when it
    /// need not. `lookElsewhere`: when `kernel` has no initramfs yet (a
    /// kernel being installed), the initramfs of the other kernels in
    /// /boot stands in for it.
    func initramfsReason(_ facts: InstalledModuleFacts, kernel: String, lookElsewhere: Bool = false) async -> String? {
        if facts.remakeInitrd { return "REMAKE_INITRD=yes" }
        let layout = initramfsLayout
        if !facts.names.isDisjoint(with: layout.listedModules()) { return "listed in \(layout.toolsDirectory)/modules" }
        if let contents = await initramfsContents(kernel) {
            return facts.names.isDisjoint(with: contents) ? nil : "in the initramfs of \(kernel)"
        }
        guard lookElsewhere else { return nil }
        for entry in VersionSort.sorted(FileSystem.entries(of: layout.bootDirectory)).reversed() {
            var other = ""
            if entry.hasPrefix("initrd.img-") { other = String(entry.dropFirst("initrd.img-".count)) }
            if entry.hasPrefix("initramfs-"), entry.hasSuffix(".img") {
                other = String(entry.dropFirst("initramfs-".count).dropLast(".img".count))
            }
            guard !other.isEmpty, other != kernel, let contents = await initramfsContents(other) else { continue }
            if !facts.names.isDisjoint(with: contents) { return "in the initramfs of \(other)" }
        }
        return nil
    }

    /// What the tree says about one built module version: its module file
    /// names (from the built directory, else dkms.conf) and `REMAKE_INITRD`.
    func moduleFacts(module: String, version: String, kernel: String, arch: String) -> InstalledModuleFacts {
        var names: Set<String> = []
        let built = tree.builtDirectory(module, version, kernel, arch) + "/module"
        for entry in FileSystem.entries(of: built) {
            if let name = InitramfsLayout.moduleName(ofPath: entry) { names.insert(name) }
        }
        var remake = false
        for file in ["\(dkmsTree)/\(module)/\(version)/source/dkms.conf", "\(etcDirectory)/\(module).conf"] {
            guard let text = FileSystem.readText(file) else { continue }
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
    func installedModuleFacts() -> Set<InstalledModuleFacts> {
        var result: Set<InstalledModuleFacts> = []
        guard initramfsLayout.hasAnyImage else { return result }
        for record in tree.status() {
            if case .built(let m, let v, let k, let a, let state) = record, state == .installed {
                result.insert(moduleFacts(module: m, version: v, kernel: k, arch: a))
            }
        }
        return result
    }

    /// Compares the installed modules before and after a transaction and
    /// regenerates, once per kernel, the initramfs of every kernel that
    /// has one and needs a module that came or went. Messages and the
    /// generator's output go to stderr (upstream prints nothing here).
    func regenerateInitramfs(after before: Set<InstalledModuleFacts>) async {
        let after = installedModuleFacts()
        let changed = before.symmetricDifference(after)
        guard !changed.isEmpty else { return }
        let layout = initramfsLayout
        var reasons: [String: [String]] = [:]
        for facts in changed.sorted(by: { ($0.kernel, $0.module) < ($1.kernel, $1.module) }) {
            let kernel = facts.kernel
            let hasImage = FileSystem.isRegularFile(layout.debianImage(kernel)) || FileSystem.isRegularFile(layout.dracutImage(kernel))
            guard hasImage, let reason = await initramfsReason(facts, kernel: kernel) else { continue }
            reasons[kernel, default: []].append("\(facts.module)/\(facts.version) (\(reason))")
        }
        for kernel in VersionSort.sorted(Array(reasons.keys)) {
            let modules = reasons[kernel] ?? []
            var command: (String, [String])?
            if FileSystem.isRegularFile(layout.debianImage(kernel)), commandExists("update-initramfs") {
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
            if settings.verbose { console.errorLine(announcement) }
            initramfsContentsByKernel[kernel] = nil
            let outcome = await run(program, arguments, output: .capture, error: .mergeWithOutput)
            if settings.verbose, !outcome.outputText.isEmpty { console.write(outcome.outputText, to: .standardError) }
            if FileSystem.makeDirectories(tree.logsDirectory) {
                FileSystem.writeText(Self.dateText() + "\n" + announcement + "\n" + outcome.outputText
                                     + "# exit code: \(outcome.status)\n", to: tree.initramfsLog, append: true)
            }
            if outcome.status != 0 {
                console.errorLine("dkms: \(program) failed for \(kernel) (status \(outcome.status)); the initramfs may lack the module.")
            }
        }
    }
}

extension Engine {
    /// The actions that install or remove modules: their transaction ends
    /// with ``regenerateInitramfs(after:)``.
    /// `kernel_preinst` and `kernel_prerm` are not among them: the kernel
    /// package being set up or removed makes (or deletes) its initramfs
    /// itself.
    static let initramfsActions: Set<Action> = [.install, .uninstall, .remove, .autoinstall, .kernelPostinst]

    /// Whether the kernel package's own hook regenerates the initramfs
    /// right after ours: Debian's postinst.d runs initramfs-tools after
    /// dkms (not so for header packages, whose hook says header_postinst).
    var kernelPackageRemakesInitramfs: Bool {
        settings.environment[Self.kernelHookVariable] == "postinst"
            && FileSystem.exists("/etc/kernel/postinst.d/initramfs-tools")
    }

    /// Remembers what is installed before the action (the tree is locked
    /// by now), unless a parent dkms holds the lock and owns the transaction.
    func beginInitramfsWatch(_ action: Action) {
        guard Self.initramfsActions.contains(action), settings.environment[TreeLock.heldVariable] == nil else { return }
        if !kernelPackageRemakesInitramfs { initramfsBaseline = installedModuleFacts() }
        installedBaseline = installedKeys()
    }

    /// `module/version/kernel/arch` of every installed module version.
    func installedKeys() -> Set<String> {
        var keys: Set<String> = []
        for record in tree.status() {
            if case .built(let m, let v, let k, let a, let state) = record, state == .installed { keys.insert("\(m)/\(v)/\(k)/\(a)") }
        }
        return keys
    }

    /// Runs the action, then regenerates the initramfs it made stale,
    /// whether the action succeeded or failed part-way.
    package func run() async throws(DKMSError) -> RunResult {
        do {
            let result = try await runAction()
            await finishInitramfsWatch()
            return result
        } catch {
            await finishInitramfsWatch()
            throw error
        }
    }

    func finishInitramfsWatch() async {
        if let baseline = initramfsBaseline {
            initramfsBaseline = nil
            await regenerateInitramfs(after: baseline)
        }
        if let baseline = installedBaseline {
            installedBaseline = nil
            if !installedKeys().subtracting(baseline).isEmpty { await explainSecureBoot() }
        }
    }
}
