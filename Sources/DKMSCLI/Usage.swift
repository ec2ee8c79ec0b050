import DKMSCore

/// The usage: upstream's text, unchanged, on standard output, then what
/// swift-dkms adds (rendered from ``Additions/table``) on standard error,
/// so that scripts reading upstream's usage see exactly upstream's bytes.
enum Usage {
    /// Upstream's actions, in its usage's order.
    static let upstreamActions = [
        "add", "remove", "build", "unbuild", "install", "uninstall", "match", "autoinstall",
        "mktarball", "ldtarball", "status", "generate_mok", "kernel_preinst", "kernel_postinst", "kernel_prerm",
    ]

    /// Prints upstream's usage on standard output and, when asked for
    /// (`--help`), the additions on standard error. After an error the usage
    /// is upstream's alone, so output compared with upstream's (stdout and
    /// stderr together, as upstream's own suite compares it) stays the same.
    static func show(program: String, on console: any Console, additions: Bool = false) {
        console.text(text(program: program))
        if additions { console.write(AdditionsRenderer.render(.text), to: .standardError) }
    }

    /// Upstream's usage text.
    static func text(program: String) -> String {
        """
        Usage: \(program) [action] [options]
          [action]  = { add | remove | build | unbuild | install | uninstall | match |
                       autoinstall | mktarball | ldtarball | status | generate_mok |
                       kernel_preinst | kernel_postinst | kernel_prerm }
          [options] = [-m module] [-v module-version] [-k kernel-version] [-a arch]
                      [-c dkms.conf-location] [-q] [--force] [--force-version-override] [--all]
                      [--templatekernel=kernel] [--directive='cli-directive=cli-value']
                      [--config=kernel-include/config/auto.conf-location] [--archive=tarball-location]
                      [--kernelsourcedir=source-location] [--rpm_safe_upgrade]
                      [--dkmstree path] [--sourcetree path] [--installtree path]
                      [--binaries-only] [--source-only] [--verbose]
                      [--no-depmod] [--modprobe-on-install] [-j number] [--version] [--help]

        """
    }
}
