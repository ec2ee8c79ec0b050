/// What installing one module version into one kernel's module tree does,
/// decided before anything is changed: which module files are copied
/// where, which of the kernel's own files are archived first, which
/// existing files are moved aside, and the active link written last.
///
/// A plan needs neither a build plan nor the kernel's headers: its module
/// files may come from a fresh build (`$dkms_tree/m/v/K/A/module`) or from
/// anywhere else that holds modules built for the kernel. A
/// ``ModuleInstaller`` carries it out under the journal.
package struct InstallPlan: Sendable, Equatable {
    /// One module of the version, in dkms.conf order.
    package struct Step: Sendable, Equatable {
        /// `DEST_MODULE_NAME`.
        package var name: String
        /// What the planning printed for this module (the version sanity
        /// check's refusals), shown when the step is reached, as upstream
        /// prints it between the previous module's copy and this one's.
        package var announcement = ConsoleTranscript()
        /// The copy, or nil when the module is skipped (refused by the
        /// version sanity check).
        package var copy: ModuleCopy?

        /// A step.
        package init(name: String, announcement: ConsoleTranscript = ConsoleTranscript(), copy: ModuleCopy?) {
            self.name = name
            self.announcement = announcement
            self.copy = copy
        }
    }

    /// One module file put in place.
    package struct ModuleCopy: Sendable, Equatable {
        /// `DEST_MODULE_NAME`.
        package var name: String
        /// The module file to install (`NAME.ko` or compressed).
        package var source: String
        /// The path it is installed at.
        package var destination: String
        /// The kernel's own copy of the module, moved into the archive of
        /// originals first (restored on uninstall), or nil.
        package var archive: Archive?
        /// An earlier install already archived the original: said, nothing moved.
        package var originalAlreadyStored: Bool

        /// A copy. Whatever is at `destination` when it is made is moved
        /// aside into the journal's stash first.
        package init(name: String, source: String, destination: String, archive: Archive? = nil,
                     originalAlreadyStored: Bool = false) {
            self.name = name
            self.source = source
            self.destination = destination
            self.archive = archive
            self.originalAlreadyStored = originalAlreadyStored
        }
    }

    /// An original module moved aside.
    package struct Archive: Sendable, Equatable {
        /// Where the kernel's module is.
        package var original: String
        /// Where it is kept (`$dkms_tree/m/original_module/K/A/NAME`).
        package var archived: String

        /// An archive move.
        package init(original: String, archived: String) {
            self.original = original
            self.archived = archived
        }
    }

    /// The module, its version and the kernel/arch installed to.
    package var module: String
    package var version: String
    package var kernel: String
    package var arch: String
    /// The modules, in dkms.conf order.
    package var steps: [Step]
    /// `$dkms_tree/m/kernel-K-A`, pointed at `activeTarget` last.
    package var activeLink: String
    /// `VERSION/K/A`.
    package var activeTarget: String
    /// Modules are symlinked instead of copied (`symlink_modules`).
    package var symlinks: Bool
    /// The version names modules, so installing none of them aborts.
    package var requiresAModule: Bool

    /// A plan.
    package init(module: String, version: String, kernel: String, arch: String, steps: [Step],
                 activeLink: String, symlinks: Bool = false, requiresAModule: Bool = true) {
        self.module = module
        self.version = version
        self.kernel = kernel
        self.arch = arch
        self.steps = steps
        self.activeLink = activeLink
        self.activeTarget = "\(version)/\(kernel)/\(arch)"
        self.symlinks = symlinks
        self.requiresAModule = requiresAModule
    }

    /// The module files that will be installed.
    package var copies: [ModuleCopy] { steps.compactMap(\.copy) }

    /// The directories the plan writes in (for the write preflight).
    package var destinationDirectories: [String] {
        copies.map { FileSystem.split($0.destination).directory } + [FileSystem.split(activeLink).directory]
    }
}
