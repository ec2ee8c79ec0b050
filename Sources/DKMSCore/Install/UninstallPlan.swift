/// What uninstalling one module version from one kernel does, decided
/// before anything changes: which installed files are deleted, which
/// archived originals go back, and the active link removed last. Its
/// ``journalSteps`` are written to the journal whole before the first
/// change, so that an interrupted uninstall is completed by the next command.
package struct UninstallPlan: Sendable, Equatable {
    /// One module of the version, in dkms.conf order.
    package struct Step: Sendable, Equatable {
        /// `DEST_MODULE_NAME`.
        package var name: String
        /// Where its installed copy is, below the kernel's directory (nil:
        /// not found there).
        package var location: String?
        /// The installed files deleted (`NAME.ko`, compressed forms).
        package var files: [String]
        /// The module's archived originals (``UninstallPlan/restores(of:)``
        /// are those that go back).
        package var originals: [ArchivedOriginals.Original]
        /// Where an original archived by an old dkms without an `.origin`
        /// file goes back (`DEST_MODULE_LOCATION` as declared).
        package var declaredLocation: String

        /// A step.
        package init(name: String, location: String?, files: [String], originals: [ArchivedOriginals.Original],
                     declaredLocation: String) {
            self.name = name
            self.location = location
            self.files = files
            self.originals = originals
            self.declaredLocation = declaredLocation
        }
    }

    /// The module, its version and the kernel/arch uninstalled from.
    package var module: String
    package var version: String
    package var kernel: String
    package var arch: String
    /// `/lib/modules/K`.
    package var kernelDirectory: String
    /// Where the kernel's originals were archived.
    package var originals: String
    /// The version's active link for the kernel/arch.
    package var activeLink: String
    /// The compressed-module suffix in force (for the lines shown).
    package var compressedSuffix: String
    /// The modules.
    package var steps: [Step]

    /// A plan.
    package init(module: String, version: String, kernel: String, arch: String, kernelDirectory: String,
                 originals: String, activeLink: String, compressedSuffix: String, steps: [Step]) {
        self.module = module
        self.version = version
        self.kernel = kernel
        self.arch = arch
        self.kernelDirectory = kernelDirectory
        self.originals = originals
        self.activeLink = activeLink
        self.compressedSuffix = compressedSuffix
        self.steps = steps
    }

    /// The originals of a step that go back: those whose `.origin` names a
    /// place in the kernel's directory (the others stay archived, with a warning).
    package func restores(of step: Step) -> [ArchivedOriginals.Original] {
        step.originals.filter { $0.origin.hasPrefix(kernelDirectory + "/") }
    }

    /// The journal's record of the plan: `delete FILE`, `restore ARCHIVED
    /// ORIGIN`, `unlink LINK`, in the order they are carried out.
    package var journalSteps: [[String]] {
        var steps: [[String]] = []
        for step in self.steps {
            steps += step.files.map { ["delete", $0] }
            steps += restores(of: step).map { ["restore", $0.archived, $0.origin] }
        }
        return steps + [["unlink", activeLink]]
    }
}

/// The kernel's own modules that installs archived under
/// `$dkms_tree/m/original_module/K/A`, each with a `NAME.ko….origin` file
/// saying where it came from.
package struct ArchivedOriginals: Sendable {
    /// One archived original.
    package struct Original: Sendable, Equatable {
        /// The archived file.
        package var archived: String
        /// Where it belongs (the first line of its `.origin` file).
        package var origin: String
    }

    /// Where they are read.
    package var fileSystem: any FileSystemAccess

    /// The originals on `fileSystem`.
    package init(fileSystem: any FileSystemAccess) {
        self.fileSystem = fileSystem
    }

    /// The archived originals of module `name` in `directory`, and where
    /// their `.origin` files say they belong.
    package func of(_ name: String, in directory: String) -> [Original] {
        guard fileSystem.isDirectory(directory) else { return [] }
        let originFiles = fileSystem.findFiles(under: directory) { file in
            file.hasPrefix(name + ".") && file.hasSuffix(".origin") && file.count > name.count + ".origin".count
        }
        return originFiles.compactMap { originFile in
            let archived = String(originFile.dropLast(".origin".count))
            guard fileSystem.isRegularFile(archived) else { return nil }
            let origin = (fileSystem.readText(originFile) ?? "").split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
            return Original(archived: archived, origin: origin)
        }
    }
}
