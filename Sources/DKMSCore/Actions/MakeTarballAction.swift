#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `dkms mktarball`.
struct MakeTarballAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {
        try engine.requireAddedVersion(for: .mktarball)
    }

    func run() async throws(DKMSError) -> RunResult {
        try await makeTarball()
        return .exit(0)
    }

    /// Upstream's `make_tarball`: archives the built modules of the
    /// requested kernels with the source (or, with `--binaries-only`, just
    /// the dkms.conf) in dkms' tarball layout.
    func makeTarball() async throws(DKMSError) {
        let module = engine.scope.module
        let version = engine.scope.version
        _ = try await ConfReader(engine: engine).readConfOrDie(kernel: engine.firstKernel, arch: engine.firstArch, module: module, version: version)
        guard let staging = fileSystem.makeTemporaryDirectory(template: "\(settings.tmpLocation)/dkms.XXXXXX") else {
            throw DKMSError(.notPermittedOrMissingArguments, "Unable to make temporary directory.")
        }
        defer { fileSystem.removeTree(staging) }
        fileSystem.makeDirectories(staging + "/dkms_main_tree")
        var kernelList = ""
        if settings.sourceOnly {
            kernelList = "source-only"
        } else {
            for (kernel, arch) in engine.kernelArchPairs {
                let built = tree.builtDirectory(module, version, kernel, arch)
                guard fileSystem.isDirectory(built) else {
                    throw DKMSError(.patchOrInstallFailed, "No modules built for \(kernel) (\(arch)).",
                                    "Modules must already be in the built state before using mktarball.")
                }
                engine.updateModuleSuffix(for: kernel)
                console.line("Marking modules for \(kernel) (\(arch)) for archiving...")
                kernelList += (kernelList.isEmpty ? "" : "-") + "kernel\(kernel)-\(arch)"
                fileSystem.makeDirectories("\(staging)/dkms_main_tree/\(kernel)")
                _ = await engine.run("cp", ["--reflink=auto", "-rf", built, "\(staging)/dkms_main_tree/\(kernel)"])
            }
        }
        let sourceDir = tree.sourceDirectory(module, version)
        if settings.binariesOnly {
            let binaries = staging + "/dkms_binaries_only"
            console.line()
            console.line("Creating tarball structure to specifically accommodate binaries.")
            fileSystem.makeDirectories(binaries)
            fileSystem.writeText(module + "\n", to: binaries + "/PACKAGE_NAME")
            fileSystem.writeText(version + "\n", to: binaries + "/PACKAGE_VERSION")
            let conf = settings.conf.isEmpty ? sourceDir + "/dkms.conf" : settings.conf
            _ = await engine.run("cp", ["--reflink=auto", "-f", conf, binaries + "/"], error: .discard)
        } else {
            console.line()
            console.line("Marking \(sourceDir) for archiving...")
            fileSystem.makeDirectories(staging + "/dkms_source_tree")
            _ = await engine.run("cp", ["--reflink=auto", "-fprT", sourceDir + "/", staging + "/dkms_source_tree"])
        }
        if kernelList.utf8.count + 1 > 200 { kernelList = "manykernels" }
        var name = "\(module)-\(version)-\(kernelList).dkms.tar.gz"
        var destination = tree.versionDirectory(module, version) + "/tarball/"
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
        if !fileSystem.isDirectory(destination) && !fileSystem.makeDirectories(destination) {
            throw DKMSError(.missingConfOrPermission, "Missing write permissions for \(destination).")
        }
        guard fileSystem.isWritable(destination) else { throw DKMSError(.missingConfOrPermission, "Missing write permissions for \(destination).") }
        let outcome = await engine.run("tar", ["-C", staging, "-caf", "\(destination)/\(name)", "."], error: .discard)
        if outcome.status != 0 { throw DKMSError(.patchOrInstallFailed, "Failed to make tarball.") }
    }
}
