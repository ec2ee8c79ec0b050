#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `dkms ldtarball` (and `dkms add ARCHIVE`): checks an archive, unpacks
/// it into the trees and adds the module.
struct LoadTarballAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {
        if getuid() != 0 && settings.force {
            throw DKMSError(.notPermittedOrMissingArguments, "You must be root to use this command with the --force option.")
        }
    }

    /// - Returns: 1 when the archive held nothing to add, else add's status.
    func run() async throws(DKMSError) -> RunResult {
        guard try await loadTarball() else { return .exit(1) }
        return .exit(try await AddAction(engine: engine).addModule())
    }

    /// Upstream's `load_tarball`: unpacks a dkms tarball (or any tarball
    /// holding a dkms.conf) and registers its source and prebuilt modules.
    /// An archive with a member that could escape or surprise (see
    /// ``ArchiveInspection``) is refused with exit 7 before anything is
    /// written.
    /// - Returns: whether the caller should go on and add the module.
    @discardableResult
    func loadTarball() async throws(DKMSError) -> Bool {
        let archive = settings.archive
        guard fileSystem.exists(archive) else { throw DKMSError(.notFoundOrConflictingKernels, "\(archive) does not exist.") }
        if archive.hasSuffix(".rpm") {
            if await engine.run("rpm", ["-Uvh", archive]).status == 0 {
                try await AutoinstallAction(engine: engine).autoinstall()
                throw DKMSError.exit(0)
            }
            throw DKMSError(.missingConfOrPermission, "Unable to install \(archive) using rpm.", "Check to ensure that your system can install .rpm files.")
        }
        // The archive is read once, into a copy of root's: what is listed and
        // checked below is what is unpacked (a FIFO or a file replaced between
        // the listing and the extraction cannot serve two archives).
        guard fileSystem.isRegularFile(archive) else {
            throw DKMSError(.moduleNotBuilt, "Refusing to load \(archive): it is not a regular file.", "\(archive) is not a valid DKMS tarball.")
        }
        guard let holding = fileSystem.makeTemporaryDirectory(template: "\(settings.tmpLocation)/dkms-archive.XXXXXX") else {
            throw DKMSError(.notPermittedOrMissingArguments, "Unable to make temporary directory.")
        }
        defer { fileSystem.removeTree(holding) }
        let copy = holding + "/" + (archive.split(separator: "/").last.map(String.init) ?? "archive")
        guard fileSystem.copyFileAtomically(from: archive, to: copy) else {
            throw DKMSError(.moduleNotBuilt, "Refusing to load \(archive): it cannot be read.", "\(archive) is not a valid DKMS tarball.")
        }
        let listed = try await refuseHostileMembers(copy, shownAs: archive)
        guard let staging = fileSystem.makeTemporaryDirectory(template: "\(settings.tmpLocation)/dkms.XXXXXX") else {
            throw DKMSError(.notPermittedOrMissingArguments, "Unable to make temporary directory.")
        }
        defer { fileSystem.removeTree(staging) }
        let unpacked = await engine.run("tar", ["-xaf", copy, "-C", staging, "--no-same-owner"])
        if listed && unpacked.status != 0 {
            throw DKMSError(.moduleNotBuilt, "Refusing to load \(archive): tar cannot unpack it.", "\(archive) is not a valid DKMS tarball.")
        }

        if !fileSystem.isDirectory(staging + "/dkms_main_tree") {
            let confs = fileSystem.findFiles(under: staging + "/") { $0 == "dkms.conf" }
            guard let conf = confs.first else {
                throw DKMSError(.alreadyThereOrMissingFromTree, "Tarball does not appear to be a correctly formed DKMS archive. No dkms.conf found within it.")
            }
            try await AddAction(engine: engine).addSourceTree(String(conf.dropLast("dkms.conf".count)), kernel: engine.firstKernel, arch: engine.firstArch)
            return true
        }
        var chosen = ""
        var config: ModuleConfig?
        for location in ["dkms_source_tree", "dkms_binaries_only"] {
            let conf = "\(staging)/\(location)/dkms.conf"
            guard fileSystem.isRegularFile(conf) else { continue }
            let read = try await ConfReader(engine: engine).readConfOrDie(kernel: engine.firstKernel, arch: engine.firstArch, module: engine.scope.module,
                                               version: engine.scope.version, file: conf)
            if read.packageName.isEmpty || read.packageVersion.isEmpty {
                console.errorLine()
                console.errorLine("Malformed dkms.conf, refusing to load.")
                continue
            }
            if tree.isAdded(read.packageName, read.packageVersion) && !engine.scope.force {
                throw DKMSError(.badConfOrNoSource, "\(read.packageName)/\(read.packageVersion) is already added!", "Aborting.")
            }
            chosen = location
            config = read
            break
        }
        guard let config else {
            throw DKMSError(.moduleNotBuilt, "No valid dkms.conf in dkms_source_tree or dkms_binaries_only.",
                            "\(archive) is not a valid DKMS tarball.")
        }
        engine.scope.module = config.packageName
        engine.scope.version = config.packageVersion
        let module = engine.scope.module
        let version = engine.scope.version
        console.line()
        console.line("Loading tarball for \(module)/\(version)")
        if chosen == "dkms_source_tree" {
            try await AddAction(engine: engine).addSourceTree(staging + "/dkms_source_tree", kernel: engine.firstKernel, arch: engine.firstArch)
        } else if !fileSystem.isDirectory("\(engine.sourceTree)/\(module)-\(version)") {
            let sourceDir = tree.sourceDirectory(module, version)
            console.line("Creating \(sourceDir)")
            fileSystem.makeDirectories(sourceDir)
            console.line("Copying dkms.conf to \(sourceDir) ...")
            _ = await engine.run("cp", ["--reflink=auto", "-rf", staging + "/dkms_binaries_only/dkms.conf", sourceDir])
        }
        let mainTree = staging + "/dkms_main_tree"
        for kernel in fileSystem.globEntries(of: mainTree) {
            for arch in fileSystem.globEntries(of: "\(mainTree)/\(kernel)") where fileSystem.isDirectory("\(mainTree)/\(kernel)/\(arch)") {
                let target = tree.builtDirectory(module, version, kernel, arch)
                if fileSystem.isDirectory(target) && !engine.scope.force {
                    console.warning("\(target) already exists. Skipping...")
                    continue
                }
                console.line("Loading \(target)...")
                fileSystem.removeTree(target)
                fileSystem.makeDirectories(target)
                for entry in fileSystem.globEntries(of: "\(mainTree)/\(kernel)/\(arch)") {
                    _ = await engine.run("cp", ["--reflink=auto", "-rf", "\(mainTree)/\(kernel)/\(arch)/\(entry)", target + "/"])
                }
            }
        }
        return chosen != "dkms_binaries_only" || fileSystem.isDirectory("\(engine.sourceTree)/\(module)-\(version)")
    }

    /// Lists the archive and refuses it unless every member is safe to
    /// unpack: see ``ArchiveInspection``. An archive tar cannot list at all
    /// is left to the extraction, which reports it as upstream does.
    /// - Returns: whether tar listed the archive (then its extraction must
    ///   succeed too).
    /// - Parameter shownAs: the archive's name in messages (the path the
    ///   admin gave, when `archive` is dkms' private copy of it).
    @discardableResult
    func refuseHostileMembers(_ archive: String, shownAs shown: String? = nil) async throws(DKMSError) -> Bool {
        let listing = await engine.run("tar", ["-tvaf", archive, "-P", "--quoting-style=c", "--numeric-owner"],
                                output: .capture, error: .discard)
        let name = shown ?? archive
        var inspection = ArchiveInspection()
        var listed = 0
        for line in listing.outputText.split(separator: "\n") {
            guard let member = TarListing.parse(String(line)) else { continue }
            listed += 1
            if let problem = inspection.admit(member) {
                throw DKMSError(.moduleNotBuilt, "Refusing to load \(name): \(problem).", "\(name) is not a valid DKMS tarball.")
            }
        }
        if listing.status != 0 && listed > 0 {
            throw DKMSError(.moduleNotBuilt, "Refusing to load \(name): tar cannot read it completely.",
                            "\(name) is not a valid DKMS tarball.")
        }
        return listed > 0
    }
}
