import Testing
@testable import DKMSCore

@Suite("dkms.conf interpretation")
struct ModuleConfigTests {
    func interpret(_ values: [String: [Int: String]], kernel: String = "6.1.0-1-amd64",
                   distribution: String = "debian", clang: Bool = false) -> (ModuleConfig, [String]) {
        var variables = ShellVariables()
        for (name, elements) in values { variables[name] = ShellArray(elements) }
        let context = ModuleConfig.Context(
            kernel: kernel, arch: "x86_64", module: "m", moduleVersion: "1.0", dkmsTree: "/var/lib/dkms",
            kernelSourceDir: "/lib/modules/\(kernel)/build", kernelConfigPath: "/nonexistent/.config",
            destination: DestinationPolicy(distribution: distribution, addonModulesDirectory: ""), kernelUsesClang: clang)
        return ModuleConfig.interpret(variables, context: context)
    }

    @Test func singleModuleDefaultsToThePackageName() {
        let (config, problems) = interpret([
            "PACKAGE_NAME": [0: "hello"], "PACKAGE_VERSION": [0: "1.0"], "DEST_MODULE_LOCATION": [0: "/extra"],
        ])
        #expect(problems.isEmpty)
        #expect(config.modules.count == 1)
        #expect(config.modules[0].builtName == "hello")
        #expect(config.modules[0].destName == "hello")
        #expect(config.modules[0].destLocation == "/updates/dkms")
        #expect(config.modules[0].strip == "yes")
        #expect(config.makeCommand == "make -C /lib/modules/6.1.0-1-amd64/build M=/var/lib/dkms/m/1.0/build")
    }

    @Test func destinationFollowsTheDistribution() {
        let values: [String: [Int: String]] = [
            "PACKAGE_NAME": [0: "a"], "PACKAGE_VERSION": [0: "1"], "DEST_MODULE_LOCATION": [0: "/kernel/drivers"],
        ]
        #expect(interpret(values, distribution: "rhel fedora").0.modules[0].destLocation == "/extra")
        #expect(interpret(values, distribution: "suse opensuse").0.modules[0].destLocation == "/updates")
        #expect(interpret(values, distribution: "alpine").0.modules[0].destLocation == "/kernel/drivers")
    }

    @Test func invalidFileReportsEveryProblemInUpstreamOrder() {
        let (_, problems) = interpret([
            "PACKAGE_NAME": [0: "dkms_conf_test"], "PACKAGE_VERSION": [0: "1.0"],
            "DEST_MODULE_NAME": [0: "bar.ko", 1: "foo"], "DEST_MODULE_LOCATION": [0: "/wrong/path"],
            "BUILT_MODULE_NAME": [1: "bar.o"], "AUTOINSTALL": [0: "maybe"],
        ])
        #expect(problems == [
            "dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #0.",
            "dkms.conf: Error! 'DEST_MODULE_NAME' directive ends in '.o' or '.ko' in record #0.",
            "dkms.conf: Error! Directive 'DEST_MODULE_LOCATION' does not begin with",
            "'/kernel', '/updates', or '/extra' in record #0.",
            "dkms.conf: Error! 'BUILT_MODULE_NAME' directive ends in '.o' or '.ko' in record #1.",
            "dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #1.",
            "dkms.conf: Error! Unsupported AUTOINSTALL value 'maybe'",
        ])
    }

    @Test func missingNameAndVersionAreReported() {
        let (_, problems) = interpret([:])
        #expect(problems == [
            "dkms.conf: Error! No 'PACKAGE_NAME' directive specified.",
            "dkms.conf: Error! No 'PACKAGE_VERSION' directive specified.",
        ])
    }

    @Test func makeMatchPicksTheLastMatchingCommand() {
        let base: [String: [Int: String]] = [
            "PACKAGE_NAME": [0: "a"], "PACKAGE_VERSION": [0: "1"], "DEST_MODULE_LOCATION": [0: "/extra"],
            "MAKE": [0: "make zero", 1: "make one", 2: "make two"], "MAKE_MATCH": [1: "^6\\.1", 2: "^6\\.12"],
        ]
        #expect(interpret(base).0.makeCommand == "make one")
        #expect(interpret(base, kernel: "6.12.1").0.makeCommand == "make two")
        #expect(interpret(base, kernel: "5.10.0").0.makeCommand == "make zero")
        #expect(interpret(base, clang: true).0.makeCommand == "make one LLVM=1")
    }

    @Test func patchesApplyWhenTheirMatchFits() {
        let (config, _) = interpret([
            "PACKAGE_NAME": [0: "a"], "PACKAGE_VERSION": [0: "1"], "DEST_MODULE_LOCATION": [0: "/extra"],
            "PATCH": [0: "all.patch", 1: "old.patch", 2: "new.patch"], "PATCH_MATCH": [1: "^5\\.", 2: "^6\\."],
        ])
        #expect(config.patches == ["all.patch", "new.patch"])
    }

    @Test func stripFallsBackToTheFirstModule() {
        let (config, _) = interpret([
            "PACKAGE_NAME": [0: "a"], "PACKAGE_VERSION": [0: "1"],
            "BUILT_MODULE_NAME": [0: "x", 1: "y", 2: "z"],
            "DEST_MODULE_LOCATION": [0: "/extra", 1: "/extra", 2: "/extra"], "STRIP": [0: "no", 2: "Yes"],
        ])
        #expect(config.modules.map(\.strip) == ["no", "no", "yes"])
    }

    @Test func autoinstallNoBecomesEmpty() {
        let (config, problems) = interpret([
            "PACKAGE_NAME": [0: "a"], "PACKAGE_VERSION": [0: "1"], "DEST_MODULE_LOCATION": [0: "/extra"], "AUTOINSTALL": [0: "NO"],
        ])
        #expect(problems.isEmpty)
        #expect(!config.autoinstall)
    }

    @Test func buildExclusiveRulesExcludeTheKernel() {
        let values: [String: [Int: String]] = [
            "PACKAGE_NAME": [0: "a"], "PACKAGE_VERSION": [0: "1"], "DEST_MODULE_LOCATION": [0: "/extra"],
            "BUILD_EXCLUSIVE_KERNEL_MIN": [0: "6.2"],
        ]
        #expect(interpret(values).0.buildExcluded)
        #expect(!interpret(values, kernel: "6.10.0").0.buildExcluded)
    }

    @Test func obsoleteByLimitsTheKernel() {
        let (config, _) = interpret([
            "PACKAGE_NAME": [0: "a"], "PACKAGE_VERSION": [0: "1"], "DEST_MODULE_LOCATION": [0: "/extra"],
            "OBSOLETE_BY": [0: "5.10"],
        ])
        #expect(config.buildExcluded)
    }

    @Test func strictChecksFindDuplicates() {
        let (config, _) = interpret([
            "PACKAGE_NAME": [0: "a"], "PACKAGE_VERSION": [0: "1"],
            "BUILT_MODULE_NAME": [0: "x", 1: "x"], "DEST_MODULE_NAME": [0: "y", 1: "z"],
            "DEST_MODULE_LOCATION": [0: "/extra", 1: "/extra"],
        ])
        let (lines, failed) = config.strictProblems()
        #expect(failed)
        #expect(lines == ["dkms.conf: Error! Duplicate module 'x' in 'BUILT_MODULE_NAME[1]'."])
    }

    @Test func zeroModulesOnlyWarns() {
        let (config, problems) = interpret(["PACKAGE_NAME": [0: "a"], "PACKAGE_VERSION": [0: "1"]])
        #expect(problems.isEmpty)
        let (lines, failed) = config.strictProblems()
        #expect(!failed)
        #expect(lines == ["dkms.conf: Warning! Zero modules specified."])
    }
}
