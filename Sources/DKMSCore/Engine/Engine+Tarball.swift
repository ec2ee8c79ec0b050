#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Engine {
    /// Upstream's `make_tarball`: archives the built modules of the
    /// requested kernels with the source (or, with `--binaries-only`, just
    /// the dkms.conf) in dkms' tarball layout.
    func makeTarball() async throws(DKMSError) {
        let module = settings.module
        let version = settings.moduleVersion
        _ = try await readConfOrDie(kernel: firstKernel, arch: firstArch, module: module, version: version)
        guard let staging = FileSystem.makeTemporaryDirectory(template: "\(settings.tmpLocation)/dkms.XXXXXX") else {
            throw DKMSError(1, "Unable to make temporary directory.")
        }
        defer { FileSystem.removeTree(staging) }
        FileSystem.makeDirectories(staging + "/dkms_main_tree")
        var kernelList = ""
        if settings.sourceOnly {
            kernelList = "source-only"
        } else {
            for (kernel, arch) in kernelArchPairs {
                let built = tree.builtDirectory(module, version, kernel, arch)
                guard FileSystem.isDirectory(built) else {
                    throw DKMSError(6, "No modules built for \(kernel) (\(arch)).",
                                    "Modules must already be in the built state before using mktarball.")
                }
                updateModuleSuffix(for: kernel)
                console.line("Marking modules for \(kernel) (\(arch)) for archiving...")
                kernelList += (kernelList.isEmpty ? "" : "-") + "kernel\(kernel)-\(arch)"
                FileSystem.makeDirectories("\(staging)/dkms_main_tree/\(kernel)")
                _ = await run("cp", ["--reflink=auto", "-rf", built, "\(staging)/dkms_main_tree/\(kernel)"])
            }
        }
        let sourceDir = "\(dkmsTree)/\(module)/\(version)/source"
        if settings.binariesOnly {
            let binaries = staging + "/dkms_binaries_only"
            console.line()
            console.line("Creating tarball structure to specifically accommodate binaries.")
            FileSystem.makeDirectories(binaries)
            FileSystem.writeText(module + "\n", to: binaries + "/PACKAGE_NAME")
            FileSystem.writeText(version + "\n", to: binaries + "/PACKAGE_VERSION")
            let conf = settings.conf.isEmpty ? sourceDir + "/dkms.conf" : settings.conf
            _ = await run("cp", ["--reflink=auto", "-f", conf, binaries + "/"], error: .discard)
        } else {
            console.line()
            console.line("Marking \(sourceDir) for archiving...")
            FileSystem.makeDirectories(staging + "/dkms_source_tree")
            _ = await run("cp", ["--reflink=auto", "-fprT", sourceDir + "/", staging + "/dkms_source_tree"])
        }
        if kernelList.utf8.count + 1 > 200 { kernelList = "manykernels" }
        var name = "\(module)-\(version)-\(kernelList).dkms.tar.gz"
        var destination = "\(dkmsTree)/\(module)/\(version)/tarball/"
        if !settings.archive.isEmpty {
            let archive = settings.archive
            if let slash = archive.lastIndex(of: "/") {
                name = String(archive[archive.index(after: slash)...])
                destination = String(archive[..<slash])
            } else {
                name = archive
            }
        }
        console.line()
        console.line("Tarball location: \(destination)/\(name)")
        if !FileSystem.isDirectory(destination) && !FileSystem.makeDirectories(destination) {
            throw DKMSError(9, "Missing write permissions for \(destination).")
        }
        guard FileSystem.isWritable(destination) else { throw DKMSError(9, "Missing write permissions for \(destination).") }
        let outcome = await run("tar", ["-C", staging, "-caf", "\(destination)/\(name)", "."], error: .discard)
        if outcome.status != 0 { throw DKMSError(6, "Failed to make tarball.") }
    }

    /// Upstream's `load_tarball`: unpacks a dkms tarball (or any tarball
    /// holding a dkms.conf) and registers its source and prebuilt modules.
    /// Members that would land outside the unpacking directory (absolute
    /// names, `..`, escaping links) and special files are refused before
    /// anything is written.
    /// - Returns: whether the caller should go on and add the module.
    @discardableResult
    func loadTarball() async throws(DKMSError) -> Bool {
        let archive = settings.archive
        guard FileSystem.exists(archive) else { throw DKMSError(2, "\(archive) does not exist.") }
        if archive.hasSuffix(".rpm") {
            if await run("rpm", ["-Uvh", archive]).status == 0 {
                try await autoinstall()
                throw DKMSError.exit(0)
            }
            throw DKMSError(9, "Unable to install \(archive) using rpm.", "Check to ensure that your system can install .rpm files.")
        }
        try await refuseHostileMembers(archive)
        guard let staging = FileSystem.makeTemporaryDirectory(template: "\(settings.tmpLocation)/dkms.XXXXXX") else {
            throw DKMSError(1, "Unable to make temporary directory.")
        }
        defer { FileSystem.removeTree(staging) }
        _ = await run("tar", ["-xaf", archive, "-C", staging, "--no-same-owner"])

        if !FileSystem.isDirectory(staging + "/dkms_main_tree") {
            let confs = FileSystem.findFiles(under: staging + "/") { $0 == "dkms.conf" }
            guard let conf = confs.first else {
                throw DKMSError(3, "Tarball does not appear to be a correctly formed DKMS archive. No dkms.conf found within it.")
            }
            try await addSourceTree(String(conf.dropLast("dkms.conf".count)), kernel: firstKernel, arch: firstArch)
            return true
        }
        var chosen = ""
        var config: ModuleConfig?
        for location in ["dkms_source_tree", "dkms_binaries_only"] {
            let conf = "\(staging)/\(location)/dkms.conf"
            guard FileSystem.isRegularFile(conf) else { continue }
            let read = try await readConfOrDie(kernel: firstKernel, arch: firstArch, module: settings.module,
                                               version: settings.moduleVersion, file: conf)
            if read.packageName.isEmpty || read.packageVersion.isEmpty {
                console.errorLine()
                console.errorLine("Malformed dkms.conf, refusing to load.")
                continue
            }
            if tree.isAdded(read.packageName, read.packageVersion) && !state.force {
                throw DKMSError(8, "\(read.packageName)/\(read.packageVersion) is already added!", "Aborting.")
            }
            chosen = location
            config = read
            break
        }
        guard let config else {
            throw DKMSError(7, "No valid dkms.conf in dkms_source_tree or dkms_binaries_only.",
                            "\(archive) is not a valid DKMS tarball.")
        }
        settings.module = config.packageName
        settings.moduleVersion = config.packageVersion
        let module = settings.module
        let version = settings.moduleVersion
        console.line()
        console.line("Loading tarball for \(module)/\(version)")
        if chosen == "dkms_source_tree" {
            try await addSourceTree(staging + "/dkms_source_tree", kernel: firstKernel, arch: firstArch)
        } else if !FileSystem.isDirectory("\(sourceTree)/\(module)-\(version)") {
            let sourceDir = "\(dkmsTree)/\(module)/\(version)/source"
            console.line("Creating \(sourceDir)")
            FileSystem.makeDirectories(sourceDir)
            console.line("Copying dkms.conf to \(sourceDir) ...")
            _ = await run("cp", ["--reflink=auto", "-rf", staging + "/dkms_binaries_only/dkms.conf", sourceDir])
        }
        let mainTree = staging + "/dkms_main_tree"
        for kernel in FileSystem.globEntries(of: mainTree) {
            for arch in FileSystem.globEntries(of: "\(mainTree)/\(kernel)") where FileSystem.isDirectory("\(mainTree)/\(kernel)/\(arch)") {
                let target = tree.builtDirectory(module, version, kernel, arch)
                if FileSystem.isDirectory(target) && !state.force {
                    console.warning("\(target) already exists. Skipping...")
                    continue
                }
                console.line("Loading \(target)...")
                FileSystem.removeTree(target)
                FileSystem.makeDirectories(target)
                for entry in FileSystem.globEntries(of: "\(mainTree)/\(kernel)/\(arch)") {
                    _ = await run("cp", ["--reflink=auto", "-rf", "\(mainTree)/\(kernel)/\(arch)/\(entry)", target + "/"])
                }
            }
        }
        return chosen != "dkms_binaries_only" || FileSystem.isDirectory("\(sourceTree)/\(module)-\(version)")
    }

    /// Lists the archive and refuses members that could write outside the
    /// directory it is unpacked into, or that are not files, directories
    /// or links.
    func refuseHostileMembers(_ archive: String) async throws(DKMSError) {
        let listing = await run("tar", ["-tvaf", archive, "--quoting-style=c", "--numeric-owner"], output: .capture, error: .discard)
        // An archive tar cannot read is left to the extraction, which
        // reports it as upstream does.
        guard listing.status == 0 else { return }
        for line in listing.outputText.split(separator: "\n") {
            guard let member = TarListing.parse(String(line)) else { continue }
            if let problem = member.hazard {
                throw DKMSError(7, "Refusing to load \(archive): member '\(member.name)' \(problem).",
                                "\(archive) is not a valid DKMS tarball.")
            }
        }
    }
}

/// One line of `tar -tv --quoting-style=c`.
struct TarListing: Equatable {
    /// The type letter (`-`, `d`, `l`, `h`, `c`, `b`, `p`, …).
    var type: Character
    /// The member name.
    var name: String
    /// The link target of a symlink or hard link.
    var target: String?

    /// Parses a listing line; nil when it has no quoted name.
    static func parse(_ line: String) -> TarListing? {
        guard let type = line.first else { return nil }
        var strings: [String] = []
        var index = line.startIndex
        while let open = line[index...].firstIndex(of: "\"") {
            var value = ""
            var cursor = line.index(after: open)
            var closed = false
            while cursor < line.endIndex {
                let c = line[cursor]
                if c == "\\" {
                    let next = line.index(after: cursor)
                    guard next < line.endIndex else { break }
                    value.append("\\")
                    value.append(line[next])
                    cursor = line.index(after: next)
                    continue
                }
                if c == "\"" { closed = true; break }
                value.append(c)
                cursor = line.index(after: cursor)
            }
            guard closed else { break }
            strings.append(ShellText.echoEscapes(value))
            index = line.index(after: cursor)
        }
        guard let name = strings.first else { return nil }
        return TarListing(type: type, name: name, target: strings.count > 1 ? strings[1] : nil)
    }

    /// Why the member is refused, or nil when it is safe.
    var hazard: String? {
        if !"-dlh".contains(type) { return "is a device node or special file" }
        if Self.escapes(name) { return "lies outside the archive root" }
        if type == "h", let target, Self.escapes(target) { return "links outside the archive root" }
        if type == "l", let target {
            if target.hasPrefix("/") { return "is a symlink to an absolute path" }
            let directory = name.split(separator: "/").dropLast().joined(separator: "/")
            if Self.escapes(directory.isEmpty ? target : directory + "/" + target) { return "is a symlink that leaves the archive root" }
        }
        return nil
    }

    /// Whether a relative path is absolute or climbs above its root.
    static func escapes(_ path: String) -> Bool {
        if path.hasPrefix("/") { return true }
        var depth = 0
        for component in path.split(separator: "/") {
            if component == ".." { depth -= 1 } else if component != "." { depth += 1 }
            if depth < 0 { return true }
        }
        return false
    }
}
