extension DKMSError {
    /// The exit statuses dkms ends with, named by what went wrong. Upstream
    /// reuses a number for unrelated failures (its `dkms.in` lists them):
    /// the names say which failure, the number is upstream's interface.
    package struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The process exit status.
        package let status: Int32

        /// A code with upstream's status.
        package init(_ status: Int32) { self.status = status }

        package var description: String { String(status) }

        // 1
        /// No write access to the dkms tree; not root; a temporary file or
        /// directory cannot be made; module arguments missing; arches and
        /// kernels do not pair up; `match` without its parameters.
        package static let notPermittedOrMissingArguments = Code(1)
        // 2
        /// The module source directory or the tarball does not exist; a
        /// kernel together with `--all`; `match` against the same kernel.
        package static let notFoundOrConflictingKernels = Code(2)
        // 3
        /// Already added or built; not in the dkms tree; an arch together
        /// with `--all`; a tarball without dkms.conf.
        package static let alreadyThereOrMissingFromTree = Code(3)
        // 4
        /// No os-release; no dkms.conf; more than one kernel for an action
        /// that takes one; a broken module.
        package static let missingConfOrOneKernelOnly = Code(4)
        // 5
        /// `--all` refused; a patch that cannot be used; already installed.
        package static let refusedPatchOrAlreadyInstalled = Code(5)
        // 6
        /// A patch that fails; install aborted or without a kernel; no built
        /// modules for a tarball or package; the tarball cannot be made.
        package static let patchOrInstallFailed = Code(6)
        // 7
        /// A module the build did not produce; publishing the build failed;
        /// a tarball without a valid dkms.conf or with a refused member.
        package static let moduleNotBuilt = Code(7)
        // 8
        /// A bad dkms.conf; a source directory without source; a tarball's
        /// module already added; `--binaries-only` with `--source-only`.
        package static let badConfOrNoSource = Code(8)
        // 9
        /// A source tree without dkms.conf; no write permission for a
        /// tarball; an rpm that cannot be installed.
        package static let missingConfOrPermission = Code(9)
        // 10
        /// The build command failed; a malformed dkms.conf in a source tree.
        package static let buildFailed = Code(10)
        // 11
        /// One or more modules failed during autoinstall.
        package static let autoinstallFailed = Code(11)
        // 12
        /// The architecture cannot be determined.
        package static let unknownArchitecture = Code(12)
        // 13
        /// BUILD_DEPENDS are not installed for the kernel.
        package static let missingBuildDepends = Code(13)
        // 14
        /// `kernel_preinst`/`kernel_prerm` failed for some modules.
        package static let kernelHookFailed = Code(14)
        // 16
        /// An empty kernel version or arch reached an action.
        package static let emptyKernelOrArch = Code(16)
        // 21
        /// The kernel's headers cannot be found.
        package static let missingKernelHeaders = Code(21)
        // 77
        /// BUILD_EXCLUSIVE excludes the module for this kernel (a skip).
        package static let excludedByBuildExclusive = Code(77)
        // 101
        /// PRE_INSTALL failed.
        package static let preInstallFailed = Code(101)
    }

    /// Creates an error with upstream's `Error!` presentation.
    package init(_ code: Code, _ lines: String...) {
        self.init(code: code, lines: lines, presentation: .error)
    }

    /// An `Warning:`-style exit (upstream's `diewarn`).
    package static func warning(_ code: Code, _ lines: String...) -> DKMSError {
        DKMSError(code: code, lines: lines, presentation: .warning)
    }
}
