/// The actions dkms understands (the first word that names one).
package enum Action: String, Sendable, CaseIterable {
    case add, remove, build, unbuild, install, uninstall, autoinstall, match
    case mktarball, ldtarball, status
    case generateMok = "generate_mok"
    case kernelPreinst = "kernel_preinst"
    case kernelPostinst = "kernel_postinst"
    case kernelPrerm = "kernel_prerm"
    /// Not in upstream: reports and repairs an inconsistent tree.
    case fsck
    /// Not in upstream 3.x (its mkbmdeb was removed): a Debian binary
    /// package of built modules for one kernel.
    case mkbmdeb
    /// Not in upstream: the module cache (`list`, `stats`, `prune`,
    /// `export`, `keygen`).
    case cache

    /// Whether the action is one of the kernel hook actions.
    package var isKernelHook: Bool {
        self == .kernelPreinst || self == .kernelPostinst || self == .kernelPrerm
    }
}
