/// How a built module version becomes a Debian binary package.
package enum BinaryPackageNaming {
    /// A Debian package name: lower case, `_` turned into `-`, other
    /// characters outside `[a-z0-9+.-]` dropped.
    package static func packageName(module: String, kernel: String) -> String {
        sanitize("\(module)-modules-\(kernel)")
    }

    static func sanitize(_ text: String) -> String {
        String(text.lowercased().map { $0 == "_" ? "-" : $0 }.filter { $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) })
    }

    /// A Debian version: the module version when it starts with a digit,
    /// else prefixed with `0~`; characters Debian refuses are dropped.
    package static func version(_ version: String) -> String {
        let kept = String(version.filter { $0.isASCII && ($0.isLetter || $0.isNumber || ".+~-:".contains($0)) })
        guard let first = kept.first, first.isNumber else { return "0~" + kept }
        return kept
    }

    /// The Debian architecture of a kernel architecture (`uname -m`).
    package static func debianArchitecture(_ arch: String) -> String {
        switch arch {
        case "x86_64": return "amd64"
        case "aarch64": return "arm64"
        case "i386", "i486", "i586", "i686": return "i386"
        case "armv7l", "armv7": return "armhf"
        case "ppc64le": return "ppc64el"
        default: return arch
        }
    }
}

/// `dkms mkbmdeb`: a Debian binary package of a version's built modules.
struct BinaryPackageAction: ActionCommand {
    /// The scope it works in.
    let engine: Engine

    func checkRequirements() throws(DKMSError) {
        try engine.requireAddedVersion(for: .mkbmdeb)
    }

    func run() async throws(DKMSError) -> RunResult {
        try await makeBinaryPackages()
        return .exit(0)
    }


    /// `dkms mkbmdeb` (beyond upstream 3.x): turns the built modules of a
    /// module version into one Debian binary package per requested kernel,
    /// installable with dpkg on machines without compiler or headers. The
    /// package owns its module files, depends on the kernel image and runs
    /// depmod on install and removal. Packages go to `m/v/deb/`, or to the
    /// directory given with `--archive`.
    func makeBinaryPackages() async throws(DKMSError) {
        let module = engine.scope.module
        let version = engine.scope.version
        let outputDir = settings.archive.isEmpty ? tree.versionDirectory(module, version) + "/deb" : settings.archive
        for (kernel, arch) in engine.kernelArchPairs {
            let built = tree.builtDirectory(module, version, kernel, arch)
            guard fileSystem.isDirectory(built + "/module") else {
                throw DKMSError(.patchOrInstallFailed, "No modules built for \(kernel) (\(arch)).",
                                "Modules must already be in the built state before using mkbmdeb.")
            }
            let config = try await ConfReader(engine: engine).readConfOrDie(kernel: kernel, arch: arch, module: module, version: version)
            engine.updateModuleSuffix(for: kernel)
            guard let stage = fileSystem.makeTemporaryDirectory(template: "\(settings.tmpLocation)/dkms-bmdeb.XXXXXX") else {
                throw DKMSError(.notPermittedOrMissingArguments, "Unable to make temporary directory.")
            }
            defer { fileSystem.removeTree(stage) }
            fileSystem.setMode(0o755, of: stage)
            for index in config.modules.indices where config.isBuildable(moduleAt: index) {
                let entry = config.modules[index]
                let file = engine.compressedOrUncompressed(built + "/module", entry.destName)
                guard !file.isEmpty else { throw DKMSError(.patchOrInstallFailed, "Missing module \(entry.destName) in \(built)/module") }
                let target = "\(stage)/lib/modules/\(kernel)\(entry.destLocation)/\(FileSystem.split(file).name)"
                fileSystem.makeDirectories(FileSystem.split(target).directory)
                fileSystem.copyFileAtomically(from: file, to: target)
                fileSystem.setMode(0o644, of: target)
            }
            let name = BinaryPackageNaming.packageName(module: module, kernel: kernel)
            let debianVersion = BinaryPackageNaming.version(version)
            let architecture = BinaryPackageNaming.debianArchitecture(arch)
            fileSystem.makeDirectories(stage + "/DEBIAN")
            fileSystem.writeText("""
                Package: \(name)
                Version: \(debianVersion)
                Architecture: \(architecture)
                Maintainer: swift-dkms <root@localhost>
                Depends: linux-image-\(kernel)
                Provides: \(BinaryPackageNaming.sanitize(module))-modules
                Section: kernel
                Priority: optional
                Description: \(module) \(version) kernel modules for Linux \(kernel)
                 Built by dkms from the DKMS source of \(module) \(version), for kernel
                 \(kernel) (\(arch)) only. No compiler or kernel headers are needed.

                """, to: stage + "/DEBIAN/control")
            let depmodScript = """
                #!/bin/sh
                set -e
                if [ -e /lib/modules/\(kernel)/modules.dep ]; then
                \tif [ -e /boot/System.map-\(kernel) ]; then
                \t\tdepmod -a -F /boot/System.map-\(kernel) \(kernel) || true
                \telse
                \t\tdepmod -a \(kernel) || true
                \tfi
                fi

                """
            for script in ["postinst", "postrm"] {
                fileSystem.writeText(depmodScript, to: "\(stage)/DEBIAN/\(script)")
                fileSystem.setMode(0o755, of: "\(stage)/DEBIAN/\(script)")
            }
            fileSystem.makeDirectories(outputDir)
            let package = "\(outputDir)/\(name)_\(debianVersion)_\(architecture).deb"
            console.line("Building binary package for \(module)/\(version), kernel \(kernel) (\(arch))...")
            let outcome = await engine.run("dpkg-deb", ["--root-owner-group", "--build", stage, package], output: .discard, error: .capture)
            guard outcome.status == 0 else {
                throw DKMSError(.patchOrInstallFailed, "Failed to build \(package).", outcome.errorText.trimmingTrailingNewlines())
            }
            console.line("Binary package location: \(package)")
        }
    }
}
