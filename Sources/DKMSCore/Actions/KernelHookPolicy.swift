/// The kernel hooks' failure policy (not in upstream): one broken module
/// never breaks a kernel upgrade, unless it must.
///
/// When `dkms autoinstall` (or `kernel_postinst`) runs from a Debian kernel
/// hook (the hook sets `DKMS_KERNEL_HOOK`), a module that fails is
/// reported on stderr (module, kernel, kept build log) and the hook
/// succeeds, so that dpkg configures the kernel package; unless the module
/// is needed to boot: one of its files is in the initramfs (of that kernel,
/// or of the other kernels while the new one has none yet), it is listed in
/// /etc/initramfs-tools/modules, it says `REMAKE_INITRD=yes`, or the admin
/// marked it `REQUIRED_MODULE=yes` (in /etc/dkms/MODULE.conf). Then the hook
/// fails as upstream's does. `kernel_hook_failures="fail"` in framework.conf
/// restores upstream's behaviour for every module. Direct calls keep
/// upstream's exit codes. Every failure is recorded in the tree
/// (``FailureRecords``) for `status --json` and retried by the next
/// autoinstall for that kernel (the next hook, or dkms.service at boot).
struct HookFailure {
    var module: String
    var version: String
    var status: Int32
    var required: Bool
}

struct KernelHookPolicy: ScopedStep {
    /// The scope it works in.
    let engine: Engine

    /// The environment variable our kernel hooks set.
    static let kernelHookVariable = "DKMS_KERNEL_HOOK"

    /// Whether this autoinstall runs from a kernel hook under the
    /// forgiving policy.
    var hookForgivesFailures: Bool {
        guard let hook = settings.environment[Self.kernelHookVariable], !hook.isEmpty else { return false }
        return settings.kernelHookFailures != "fail"
    }

    /// The statuses in autoinstall's `name(status)` summary items, by name.
    static func statuses(of items: [String]) -> [String: Int32] {
        var result: [String: Int32] = [:]
        for item in items {
            guard let open = item.lastIndex(of: "("), item.hasSuffix(")") else { continue }
            result[String(item[..<open])] = Int32(item[item.index(after: open)...].dropLast())
        }
        return result
    }

    /// Records the outcome of one module's autoinstall for a kernel:
    /// success forgets an earlier failure, failure is recorded.
    func recordAutoinstallOutcome(module: String, version: String, kernel: String, arch: String, status: Int32) {
        let records = FailureRecords(dkmsTree: engine.dkmsTree, fileSystem: fileSystem)
        if status == 0 || status == 77 {
            records.clear(module, version, kernel, arch)
            return
        }
        let log = engine.tree.retainedLog(module, version, kernel, arch)
        records.record(AutoinstallFailure(module: module, version: version, kernel: kernel, arch: arch, status: status,
                                          log: fileSystem.exists(log) ? log : nil, time: FailureRecords.now()))
    }

    /// What decides whether a failed module is needed to boot: the tree's
    /// facts (its module files, none when the build failed, and dkms.conf
    /// read as text), completed by the evaluated dkms.conf, whose module
    /// names may come from variables (`BUILT_MODULE_NAME[0]=$PACKAGE_NAME`,
    /// or no BUILT_MODULE_NAME at all) and whose `REMAKE_INITRD` may be set
    /// by the admin's /etc/dkms/MODULE.conf.
    func bootFacts(module: String, version: String, kernel: String, arch: String) async -> InstalledModuleFacts {
        var facts = InitramfsWatch(engine: engine).initramfs.facts(module: module, version: version, kernel: kernel, arch: arch)
        if let config = await DryRun(engine: engine).quietConf(module, version, kernel, arch) {
            for entry in config.modules {
                facts.names.insert(InitramfsLayout.canonical(entry.destName))
                facts.names.insert(InitramfsLayout.canonical(entry.builtName))
            }
            if config.variables["REMAKE_INITRD"].value.lowercased() == "yes" { facts.remakeInitrd = true }
        }
        return facts
    }

    /// Applies the hook policy to the failures of one autoinstall.
    /// - Returns: true when the hook may succeed (every failure is
    ///   reported and none is needed to boot).
    func hookForgives(_ failures: [HookFailure], kernel: String, arch: String) async -> Bool {
        var critical: [String] = []
        for failure in failures {
            let (m, v) = (failure.module, failure.version)
            var reason: String?
            if failure.required {
                reason = "REQUIRED_MODULE=yes"
            } else {
                let initramfs = InitramfsWatch(engine: engine).initramfs
                reason = await initramfs.reason(await bootFacts(module: m, version: v, kernel: kernel, arch: arch),
                                                kernel: kernel, lookElsewhere: true)
            }
            let log = engine.tree.retainedLog(m, v, kernel, arch)
            let logText = fileSystem.exists(log) ? "build log: \(log)" : "no build log kept"
            if failure.status != 0 {
                console.errorLine("dkms: \(m)/\(v) failed for kernel \(kernel) (\(arch)) with status \(failure.status); \(logText)")
            } else {
                console.errorLine("dkms: \(m)/\(v) could not be installed for kernel \(kernel) (\(arch)): its BUILD_DEPENDS failed")
            }
            if let reason {
                critical.append("\(m)/\(v) (\(reason))")
            }
        }
        if !critical.isEmpty {
            console.errorLine("dkms: needed to boot \(kernel): \(critical.joined(separator: ", ")); the kernel hook fails.")
            return false
        }
        console.errorLine("dkms: none of them is needed to boot \(kernel): the kernel hook succeeds without them. "
            + "\"dkms autoinstall -k \(kernel)\" retries them (dkms.service does at boot); \"dkms status --json\" lists them.")
        return true
    }
}

extension KernelHookPolicy {
    /// The recorded autoinstall failures that still stand (the module
    /// version is in the tree and not installed for that kernel), with
    /// `status`'s `-m`, `-v`, `-k` and `-a` filters.
    func statusFailures() -> [AutoinstallFailure] {
        FailureRecords(dkmsTree: engine.dkmsTree, fileSystem: fileSystem).all().filter { failure in
            (engine.scope.module.isEmpty || failure.module == engine.scope.module)
                && (engine.scope.version.isEmpty || failure.version == engine.scope.version)
                && (settings.kernels.isEmpty || settings.kernels.contains(failure.kernel))
                && (settings.arches.isEmpty || settings.arches.contains(failure.arch))
                && engine.tree.isAdded(failure.module, failure.version)
                && !engine.tree.isInstalled(failure.module, failure.version, failure.kernel, failure.arch)
        }
    }
}
