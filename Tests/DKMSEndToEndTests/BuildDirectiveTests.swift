import DKMSCore
import DKMSTestSupport
import Testing

/// dkms.conf build directives: patches, scripts, locations, exclusion,
/// dependencies, compression (expectations confirmed against upstream 3.4.3).
@Suite("Build directives", .serialized)
struct BuildDirectiveTests {
    let sandbox = DKMSSandbox()
    let kernel = "6.1.0-1-fake"
    let arch = Settings.uname().machine
    let signingOff = "Module signing is disabled by policy, modules won't be signed\n\n"

    init() {
        sandbox.addFakeKernel(kernel)
    }

    func module(_ name: String, conf extra: String, files: [String: (String, Bool)] = [:]) -> String {
        let dir = sandbox.writeModule(name: name, version: "1.0", conf: """
            PACKAGE_NAME=\(name)
            PACKAGE_VERSION=1.0
            BUILT_MODULE_NAME[0]=\(name)
            DEST_MODULE_LOCATION[0]=/extra
            \(extra)
            """)
        for (path, (text, executable)) in files { Files.write(text, to: dir + "/" + path, executable: executable) }
        return dir
    }

    func builtLog(_ name: String) -> String {
        Files.read("\(sandbox.dkmsTree)/\(name)/1.0/\(kernel)/\(arch)/log/make.log") ?? ""
    }

    /// A patch of `name`.c (a module written by ``module(_:conf:files:)``)
    /// that changes its modinfo version from 1.0 to `version`.
    func versionPatch(_ name: String, to version: String) -> String {
        """
        --- a/\(name).c
        +++ b/\(name).c
        @@ -1,3 +1,3 @@
        -__attribute__((section(".modinfo"), used, aligned(1))) static const char v[] = "version=1.0";
        +__attribute__((section(".modinfo"), used, aligned(1))) static const char v[] = "version=\(version)";
         __attribute__((section(".modinfo"), used, aligned(1))) static const char s[] = "srcversion=\(name.uppercased())1.0";
         __attribute__((section(".modinfo"), used, aligned(1))) static const char l[] = "license=GPL";

        """
    }

    @Test func patchesAreAppliedAndLogged() {
        let patch = versionPatch("pat", to: "1.0-patched")
        _ = sandbox.dkms(["add", module("pat", conf: "PATCH[0]=fix.patch", files: ["patches/fix.patch": (patch, false)])])
        let r = sandbox.dkms(["build", "-k", kernel, "pat/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == signingOff + "Applying patch fix.patch... done.\nBuilding module(s)... done.\n")
        #expect(builtLog("pat").contains("\nApplying patch fix.patch\n# command: patch -p1 < ./patches/fix.patch\npatching file pat.c\n"))
        let info = CommandRunner.run("/sbin/modinfo", ["-F", "version", "\(sandbox.dkmsTree)/pat/1.0/\(kernel)/\(arch)/module/pat.ko"], environment: sandbox.environment)
        #expect(info.stdout == "1.0-patched\n")
    }

    /// docs/cache.md: a cache hit shows the steps a build shows (patch,
    /// pre_build, build, post_build, and the warning for a script that is
    /// not executable) without running them; with --verbose each step is
    /// `# from the module cache (entry KEY): COMMAND`.
    @Test(.enabled(if: testingOurBinary, "the module cache is swift-dkms'"))
    func aCacheHitShowsTheStepsABuildShows() {
        let patch = versionPatch("hit", to: "1.0-hit")
        let source = module("hit", conf: "PATCH[0]=fix.patch\nPRE_BUILD=\"pre.sh\"\nPOST_BUILD=post.sh", files: [
            "patches/fix.patch": (patch, false),
            "pre.sh": ("#!/bin/sh\necho pre-ran\n", true),
            "post.sh": ("#!/bin/sh\necho post-ran\n", false),
        ])
        _ = sandbox.dkms(["add", source])
        let built = sandbox.dkms(["build", "-k", kernel, "hit/1.0"])
        #expect(built.status == 0, "\(built)")
        #expect(built.stdout.contains("Applying patch fix.patch... done.\n") && built.stdout.contains("Running the pre_build script"), "\(built.stdout)")
        #expect(built.stderr.contains("not executable"), "post.sh is not executable: \(built.stderr)")
        _ = sandbox.dkms(["remove", "hit/1.0", "--all"])
        _ = sandbox.dkms(["add", source])
        let hit = sandbox.dkms(["build", "-k", kernel, "hit/1.0"])
        #expect(hit.status == 0, "\(hit)")
        #expect(hit.stdoutWithoutProgressDots == built.stdoutWithoutProgressDots, "\(hit.stdout)")
        #expect(hit.stderr == built.stderr)
        #expect(sandbox.dkms(["cache", "stats"]).stdout.contains("hits: 1\n"))
        #expect(builtLog("hit").split(separator: "\n").dropFirst().first?.contains("(modules from the module cache: entry ") == true, "\(builtLog("hit"))")
        _ = sandbox.dkms(["remove", "hit/1.0", "--all"])
        _ = sandbox.dkms(["add", source])
        let verbose = sandbox.dkms(["build", "-k", kernel, "hit/1.0", "--verbose"])
        #expect(verbose.status == 0)
        #expect(verbose.stdout.contains("# from the module cache (entry "), "\(verbose.stdout)")
        #expect(sandbox.dkms(["cache", "stats"]).stdout.contains("hits: 2\n"))
        let info = CommandRunner.run("/sbin/modinfo", ["-F", "version", "\(sandbox.dkmsTree)/hit/1.0/\(kernel)/\(arch)/module/hit.ko"], environment: sandbox.environment)
        #expect(info.stdout == "1.0-hit\n", "the patched build, from the cache")
    }

    @Test func badPatchesStopTheBuild() {
        _ = sandbox.dkms(["add", module("dots", conf: "PATCH[0]=../escape.patch")])
        var r = sandbox.dkms(["build", "-k", kernel, "dots/1.0"])
        #expect(r.status == 5)
        #expect(r.stderr == "\nError! Patch ../escape.patch as specified in dkms.conf contains '..' path component.\n")
        _ = sandbox.dkms(["add", module("missing", conf: "PATCH[0]=none.patch")])
        r = sandbox.dkms(["build", "-k", kernel, "missing/1.0"])
        #expect(r.status == 5)
        #expect(r.stderr == "\nError! Patch none.patch as specified in dkms.conf cannot be\nfound in \(sandbox.dkmsTree)/missing/1.0/build/patches/.\n")
        _ = sandbox.dkms(["add", module("broken", conf: "PATCH[0]=bad.patch", files: ["patches/bad.patch": ("garbage\n", false)])])
        r = sandbox.dkms(["build", "-k", kernel, "broken/1.0"])
        #expect(r.status == 6)
        #expect(r.stdout.hasSuffix("Applying patch bad.patch...(bad exit status: 2)\nFailed command:\npatch -p1 < ./patches/bad.patch\n"))
        #expect(r.stderr == "\nError! Application of patch bad.patch failed.\nConsult \(sandbox.dkmsTree)/broken/1.0/build/make.log for more information.\n")
    }

    @Test func buildScriptsRunInTheBuildDirectoryAndLog() {
        let script = "#!/bin/sh\necho \"pre_build in $(basename $(pwd)) args: $*\"\n"
        _ = sandbox.dkms(["add", module("scr", conf: "PRE_BUILD=\"pre.sh one\"\nPOST_BUILD=post.sh",
                                        files: ["pre.sh": (script, true), "post.sh": ("#!/bin/sh\necho post\n", true)])])
        let r = sandbox.dkms(["build", "-k", kernel, "scr/1.0"])
        #expect(r.status == 0)
        #expect(r.stdout == signingOff + "Running the pre_build script... done.\nBuilding module(s)... done.\nRunning the post_build script... done.\n")
        let log = builtLog("scr")
        #expect(log.contains("Running the pre_build script\n# command: cd \(sandbox.dkmsTree)/scr/1.0/build/ && \(sandbox.dkmsTree)/scr/1.0/build/pre.sh one\npre_build in build args: one\n"))
        #expect(log.contains("Running the post_build script\n"))
    }

    @Test func failingPreBuildExitsWithItsOwnStatus() {
        _ = sandbox.dkms(["add", module("pbf", conf: "PRE_BUILD=fail.sh", files: ["fail.sh": ("#!/bin/sh\nexit 42\n", true)])])
        let r = sandbox.dkms(["build", "-k", kernel, "pbf/1.0"])
        #expect(r.status == 42)
        #expect(r.stdout == signingOff + """
            Running the pre_build script...(bad exit status: 42)
            Failed command:
            cd \(sandbox.dkmsTree)/pbf/1.0/build/ && \(sandbox.dkmsTree)/pbf/1.0/build/fail.sh
            Consult \(sandbox.dkmsTree)/pbf/1.0/build/make.log for more information.

            """)
        #expect(r.stderr == "")
    }

    @Test func sourceScriptsWriteToTheTerminal() {
        let r = sandbox.dkmsMerged(["add", module("padd", conf: "POST_ADD=hello.sh\nPOST_INSTALL=missing.sh",
                                                  files: ["hello.sh": ("#!/bin/sh\necho \"hello from $(basename $(pwd))\"\n", true)])])
        #expect(r.status == 0)
        #expect(r.combined == """
            Creating symlink \(sandbox.dkmsTree)/padd/1.0/source -> \(sandbox.sourceTree)/padd-1.0
            Running the post_add script:
            hello from source

            """)
        let install = sandbox.dkmsMerged(["install", "-k", kernel, "padd/1.0"])
        #expect(install.combined.hasSuffix("""
            Installing \(sandbox.installTree)/\(kernel)/updates/dkms/padd.ko

            Warning: The post_install script is not executable.
            Running depmod... done.

            """))
    }

    @Test func failingPreInstallIs101() {
        _ = sandbox.dkms(["add", module("pri", conf: "PRE_INSTALL=no.sh", files: ["no.sh": ("#!/bin/sh\nexit 3\n", true)])])
        let r = sandbox.dkmsMerged(["install", "-k", kernel, "pri/1.0"])
        #expect(r.status == 101)
        #expect(r.combined.hasSuffix("""
            Building module(s)... done.
            Running the pre_install script:

            Error! pre_install failed, aborting install.
            You may override by specifying --force.

            """))
    }

    @Test func locationsAndDestinationNames() {
        let dir = sandbox.writeModule(name: "loc", version: "1.0", conf: """
            PACKAGE_NAME=loc
            PACKAGE_VERSION=1.0
            BUILT_MODULE_NAME[0]=inner
            BUILT_MODULE_LOCATION[0]=sub
            DEST_MODULE_NAME[0]=renamed
            DEST_MODULE_LOCATION[0]=/kernel/drivers/misc
            MAKE[0]="make -C sub"
            """)
        Files.write("all:\n\tcc -c inner.c -o inner.ko\n", to: dir + "/sub/Makefile")
        Files.write(DKMSSandbox.fakeModuleSource(version: "1.0", tag: "inner"), to: dir + "/sub/inner.c")
        _ = sandbox.dkms(["add", dir])
        let r = sandbox.dkms(["install", "-k", kernel, "loc/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == signingOff + "Building module(s)... done.\nInstalling \(sandbox.installTree)/\(kernel)/updates/dkms/renamed.ko\nRunning depmod... done.\n")
        #expect(builtLog("loc").contains("# command: make -j1 KERNELRELEASE=\(kernel) -C sub\n"))
    }

    @Test func builtModuleMissingIs7() {
        _ = sandbox.dkms(["add", module("ghost", conf: "BUILT_MODULE_NAME[0]=notbuilt")])
        let r = sandbox.dkms(["build", "-k", kernel, "ghost/1.0"])
        #expect(r.status == 7)
        #expect(r.stderr == """

            Error! Build of notbuilt.ko failed for: \(kernel) (\(arch))
            Make sure the name and location of the generated module are correct,
            or consult \(sandbox.dkmsTree)/ghost/1.0/build/make.log for more information.

            """)
    }

    @Test func buildExclusiveSkipsWith77() {
        _ = sandbox.dkms(["add", module("excl", conf: "BUILD_EXCLUSIVE_KERNEL=\"^5\\\\.\"")])
        let r = sandbox.dkms(["build", "-k", kernel, "excl/1.0"])
        #expect(r.status == 77)
        #expect(r.stdout == "")
        #expect(r.stderr == """
            Warning: The \(sandbox.dkmsTree)/excl/1.0/\(kernel)/\(arch)/dkms.conf
            for module excl/1.0 includes BUILD_EXCLUSIVE directives
            which do not match this kernel/arch/config for any modules.
            This indicates that it should not be built.

            """)
    }

    @Test func missingBuildDependencyIs13() {
        _ = sandbox.dkms(["add", module("dep", conf: "BUILD_DEPENDS[0]=base")])
        var r = sandbox.dkms(["build", "-k", kernel, "dep/1.0"])
        #expect(r.status == 13)
        #expect(r.stderr == """

            Error! Aborting build of module dep/1.0 for kernel \(kernel) (\(arch)) due to missing BUILD_DEPENDS: base.
            You may override by specifying --force.

            """)
        r = sandbox.dkmsMerged(["build", "-k", kernel, "dep/1.0", "--force"])
        #expect(r.status == 0)
        #expect(r.combined.contains("Warning: Trying to build module dep/1.0 for kernel \(kernel) (\(arch)) despite of missing BUILD_DEPENDS: base.\n"))
    }

    @Test func compressedKernelGetsCompressedModules() {
        let compressed = "6.1.0-2-fakexz"
        sandbox.addFakeKernel(compressed)
        Files.write("x", to: "\(sandbox.installTree)/\(compressed)/kernel/other.ko.xz")
        _ = sandbox.dkms(["add", sandbox.writeModule(name: "cmp", version: "1.0")])
        var r = sandbox.dkms(["install", "-k", compressed, "cmp/1.0"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.hasSuffix("Installing \(sandbox.installTree)/\(compressed)/updates/dkms/cmp.ko.xz\nRunning depmod... done.\n"))
        #expect(Files.exists("\(sandbox.dkmsTree)/cmp/1.0/\(compressed)/\(arch)/module/cmp.ko.xz"))
        let info = CommandRunner.run("/sbin/modinfo", ["-F", "version", "\(sandbox.installTree)/\(compressed)/updates/dkms/cmp.ko.xz"], environment: sandbox.environment)
        #expect(info.stdout == "1.0\n")
        #expect(sandbox.dkms(["status", "-k", compressed]).stdout == "cmp/1.0, \(compressed), \(arch): installed\n")
        r = sandbox.dkms(["uninstall", "-k", compressed, "cmp/1.0"])
        #expect(r.stdout.contains("Deleting \(sandbox.installTree)/\(compressed)/updates/dkms/cmp.ko.xz\n"))
        #expect(!Files.exists("\(sandbox.installTree)/\(compressed)/updates/dkms/cmp.ko.xz"))
    }
}
