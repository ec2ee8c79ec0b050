/// Every path under the dkms tree, named once. Upstream's layout is the
/// interface: scripts and other dkms versions read these paths.
extension DKMSTree {
    /// `$dkms_tree/m`.
    package func moduleDirectory(_ module: String) -> String {
        "\(root)/\(module)"
    }

    /// `$dkms_tree/m/v/source/dkms.conf`.
    package func confFile(_ module: String, _ version: String) -> String {
        sourceDirectory(module, version) + "/dkms.conf"
    }

    /// `$dkms_tree/m/v/K`: the builds of a version for one kernel.
    package func kernelDirectory(_ module: String, _ version: String, _ kernel: String) -> String {
        "\(root)/\(module)/\(version)/\(kernel)"
    }

    /// `$dkms_tree/m/original_module`: the kernel's own modules dkms replaced.
    package func originalModulesDirectory(_ module: String) -> String {
        "\(root)/\(module)/original_module"
    }

    /// `$dkms_tree/m/original_module/K/A`.
    package func originalModulesDirectory(_ module: String, _ kernel: String, _ arch: String) -> String {
        "\(root)/\(module)/original_module/\(kernel)/\(arch)"
    }

    /// `$dkms_tree/m/.tmp_remove_v`: a version being retired by rename.
    package func retiredVersionDirectory(_ module: String, _ version: String) -> String {
        "\(root)/\(module)/.tmp_remove_\(version)"
    }

    /// `$dkms_tree/m/v/.build_K_A_XXXXXX`: the template of a build's own
    /// directory (bound at `build` in its sandbox).
    package func privateBuildTemplate(_ module: String, _ version: String, _ kernel: String, _ arch: String) -> String {
        "\(root)/\(module)/\(version)/.build_\(kernel)_\(arch)_XXXXXX"
    }

    /// `$dkms_tree/.logs` (not in upstream): kept build logs.
    package var logsDirectory: String { "\(root)/.logs" }

    /// `$dkms_tree/.logs/m/v/K/A/make.log`: the last build's log, kept.
    package func retainedLog(_ module: String, _ version: String, _ kernel: String, _ arch: String) -> String {
        "\(logsDirectory)/\(module)/\(version)/\(kernel)/\(arch)/make.log"
    }

    /// `$dkms_tree/.logs/initramfs.log` (not in upstream): the initramfs
    /// regenerations dkms ran, with their output.
    package var initramfsLog: String { "\(logsDirectory)/initramfs.log" }

    /// `$dkms_tree/depmod-pending-K-A`: upstream's delayed-depmod marker.
    package func depmodMarker(_ kernel: String, _ arch: String) -> String {
        "\(root)/depmod-pending-\(kernel)-\(arch)"
    }

    /// `$dkms_tree/post_transaction.log`.
    package var postTransactionLog: String { "\(root)/post_transaction.log" }

    /// `$dkms_tree/.sandbox-unavailable` (not in upstream): dkms said once
    /// that builds run without a sandbox.
    package var sandboxUnavailableMarker: String { "\(root)/.sandbox-unavailable" }

    /// `$dkms_tree/.sandbox-without-build-user` (not in upstream): dkms
    /// said once that sandboxed builds cannot run as the build user here.
    package var sandboxWithoutIdentityMarker: String { "\(root)/.sandbox-without-build-user" }

    /// `$dkms_tree/.cache` (not in upstream): the module cache (``LocalCache``).
    package var cacheDirectory: String { "\(root)/.cache" }

    /// `$dkms_tree/.logs/m/v/K/A/cache` (not in upstream): where the
    /// modules of the last build came from (`status --json` shows it).
    package func cacheRecord(_ module: String, _ version: String, _ kernel: String, _ arch: String) -> String {
        "\(logsDirectory)/\(module)/\(version)/\(kernel)/\(arch)/cache"
    }
}
