import Foundation

/// Where the `dkms` binary under test is: `DKMS_BINARY`, or the package's
/// debug build.
package enum DKMSBinary {
    /// The package root (three levels above this file).
    package static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The binary path.
    package static var path: String {
        if let explicit = ProcessInfo.processInfo.environment["DKMS_BINARY"], !explicit.isEmpty { return explicit }
        return packageRoot + "/.build/debug/dkms"
    }
}

/// A private set of dkms trees (dkms tree, source tree, install tree,
/// /etc/dkms stand-in, temporary directory) in which tests run the real
/// `dkms` binary. Signing is switched off through the environment unless
/// a test asks for it.
package final class DKMSSandbox: @unchecked Sendable {
    /// The temporary root.
    package let root = TemporaryDirectory(prefix: "dkms-sandbox")
    /// `--dkmstree`.
    package var dkmsTree: String { root.child("dkms") }
    /// `--sourcetree`.
    package var sourceTree: String { root.child("src") }
    /// `--installtree`.
    package var installTree: String { root.child("modules") }
    /// The stand-in for /etc/dkms.
    package var etc: String { root.child("etc") }
    /// Where module sources are prepared before `dkms add`.
    package var packages: String { root.child("packages") }
    /// The environment dkms runs with.
    package var environment: [String: String]

    /// Creates the sandbox and its directories.
    package init(signing: Bool = false) {
        environment = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": root.path,
            "TMPDIR": root.child("tmp"),
            "SWIFT_DKMS_SYSCONFDIR": root.child("etc"),
            "parallel_jobs": "1",
        ]
        if !signing { environment["try_sign_modules"] = "false" }
        for dir in [dkmsTree, sourceTree, installTree, etc, packages, root.child("tmp")] { Files.makeDirectory(dir) }
    }

    /// The tree options every invocation gets.
    package var treeOptions: [String] {
        ["--dkmstree", dkmsTree, "--sourcetree", sourceTree, "--installtree", installTree]
    }

    /// Runs dkms with the tree options appended; output captured separately.
    package func dkms(_ arguments: [String]) -> CommandResult {
        CommandRunner.run(DKMSBinary.path, arguments + treeOptions, environment: environment, workingDirectory: root.path)
    }

    /// Runs dkms with the tree options appended; output on one pipe.
    package func dkmsMerged(_ arguments: [String]) -> CommandResult {
        CommandRunner.runMerged(DKMSBinary.path, arguments + treeOptions, environment: environment, workingDirectory: root.path)
    }

    /// The kernel name the fake-kernel sandboxes use.
    package static let fakeKernel = "6.1.0-1-fake"
    /// This machine's architecture (`uname -m`), dkms' default arch.
    package static let arch: String = {
        var info = utsname()
        uname(&info)
        return withUnsafePointer(to: info.machine) { $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) } }
    }()

    /// A sandbox with ``fakeKernel`` already in its install tree.
    package static func withFakeKernel(signing: Bool = false) -> DKMSSandbox {
        let sandbox = DKMSSandbox(signing: signing)
        sandbox.addFakeKernel(fakeKernel)
        return sandbox
    }

    /// Creates a fake kernel `version` in the install tree: a `build`
    /// directory with `include/` and a Makefile that stands in for kbuild
    /// (it compiles each `obj-m` C file of `M=` into a small ELF object
    /// with a `.modinfo` section, which modinfo reads like a module).
    @discardableResult
    package func addFakeKernel(_ version: String, config: String = "", existingModules: [String] = []) -> String {
        let build = "\(installTree)/\(version)/build"
        Files.makeDirectory(build + "/include")
        Files.write(Self.fakeKbuild, to: build + "/Makefile")
        Files.write(config, to: build + "/.config")
        for module in existingModules {
            Files.write("fake", to: "\(installTree)/\(version)/\(module)")
        }
        return build
    }

    /// A Makefile standing in for kbuild.
    package static let fakeKbuild = """
        # Stand-in for kbuild used by swift-dkms tests.
        objs := $(shell sed -n 's/^obj-m[ \\t]*[:+]*=//p' $(M)/Makefile)
        mods := $(patsubst %.o,$(M)/%.ko,$(objs))
        all modules: $(mods)
        $(M)/%.ko: $(M)/%.c
        \tcc -c $< -o $@

        """

    /// Writes a module source tree (for the fake kernel) and returns its
    /// directory: dkms.conf, a Makefile with `obj-m`, and one C file per
    /// module whose `.modinfo` carries `version`.
    @discardableResult
    package func writeModule(name: String, version: String, modules: [String]? = nil,
                            moduleVersion: String? = nil, conf: String? = nil) -> String {
        let dir = "\(packages)/\(name)-\(version)"
        let names = modules ?? [name]
        var text = "PACKAGE_NAME=\"\(name)\"\nPACKAGE_VERSION=\"\(version)\"\n"
        for (index, module) in names.enumerated() {
            text += "BUILT_MODULE_NAME[\(index)]=\"\(module)\"\nDEST_MODULE_LOCATION[\(index)]=\"/extra\"\n"
        }
        text += "AUTOINSTALL=\"yes\"\n"
        Files.write(conf ?? text, to: dir + "/dkms.conf")
        Files.write("obj-m := " + names.map { $0 + ".o" }.joined(separator: " ") + "\n", to: dir + "/Makefile")
        for module in names {
            Files.write(Self.fakeModuleSource(version: moduleVersion ?? version, tag: module), to: "\(dir)/\(module).c")
        }
        return dir
    }

    /// `flock` holding `path` for `seconds` (shared with `shared`), from a
    /// process that is no ancestor of the dkms under test; returns once it
    /// has had time to take it.
    package func holdFlock(_ path: String, shared: Bool = false, seconds: Int) throws -> Process {
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = (shared ? ["-s"] : []) + [path, "sleep", "\(seconds)"]
        try holder.run()
        Thread.sleep(forTimeInterval: 0.3)
        return holder
    }

    /// The tree lock (`$dkms_tree/.lock`) held by another process for `seconds`.
    package func holdTreeLock(seconds: Int) throws -> Process {
        try holdFlock(dkmsTree + "/.lock", seconds: seconds)
    }

    /// What an uninstall of `name/1.0` (installed for the fake kernel)
    /// killed after deleting the module file, before the link, leaves.
    package func tornUninstall(_ name: String) -> (installed: String, link: String) {
        let kernel = Self.fakeKernel, arch = Self.arch
        _ = dkms(["add", writeModule(name: name, version: "1.0")])
        _ = dkms(["install", "-k", kernel, "\(name)/1.0"])
        let installed = "\(installTree)/\(kernel)/updates/dkms/\(name).ko"
        let link = "\(dkmsTree)/\(name)/kernel-\(kernel)-\(arch)"
        try? FileManager.default.removeItem(atPath: installed)
        Files.write("begin\tuninstall\t\(name)\t1.0\t\(kernel)\t\(arch)\ndelete\t\(installed)\nunlink\t\(link)\n",
                    to: dkmsTree + "/.journal/uninstall-1-1")
        return (installed, link)
    }

    /// C source of a fake module with a `.modinfo` section.
    package static func fakeModuleSource(version: String, tag: String) -> String {
        """
        __attribute__((section(".modinfo"), used, aligned(1))) static const char v[] = "version=\(version)";
        __attribute__((section(".modinfo"), used, aligned(1))) static const char s[] = "srcversion=\(tag.uppercased())\(version)";
        __attribute__((section(".modinfo"), used, aligned(1))) static const char l[] = "license=GPL";

        """
    }
}
