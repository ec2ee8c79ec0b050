import DKMSTestSupport
import Testing
@testable import DKMSCore

/// What a command learns about its kernels, read from a fake file system
/// with a scripted process runner: each fact read once, and the
/// configuration a kernel without headers is read from.
@Suite("Kernel facts")
struct KernelFactsTests {
    let kernel = "6.1.0-57-amd64"

    func files(headers: Bool, autoConf: Bool = false, boot: Bool = true) -> InMemoryFileSystem {
        let files = InMemoryFileSystem()
        _ = files.makeDirectories("/lib/modules/\(kernel)/kernel/drivers")
        files.create("", at: "/lib/modules/\(kernel)/kernel/drivers/a.ko.xz")
        files.create("", at: "/lib/modules/\(kernel)/kernel/drivers/b.ko")
        if headers {
            _ = files.makeDirectories("/lib/modules/\(kernel)/build/include/config")
            files.create("CONFIG_CC_IS_CLANG=y\n", at: "/lib/modules/\(kernel)/build/.config")
            if autoConf { files.create("CONFIG_X=y\n", at: "/lib/modules/\(kernel)/build/include/config/auto.conf") }
        }
        if boot {
            _ = files.makeDirectories("/boot")
            files.create("CONFIG_A=y\n", at: "/boot/config-\(kernel)")
        }
        return files
    }

    @Test("headers and configuration: --kernelsourcedir and --config win, auto.conf before .config")
    func headersAndConfiguration() {
        let plain = KernelFacts(.init(installTree: "/lib/modules"), fileSystem: files(headers: true), runner: ScriptedProcessRunner())
        #expect(plain.sourceDirectory(for: kernel) == "/lib/modules/\(kernel)/build")
        #expect(plain.hasHeaders(kernel))
        #expect(plain.configPath(for: kernel) == "/lib/modules/\(kernel)/build/.config")
        let auto = KernelFacts(.init(installTree: "/lib/modules"), fileSystem: files(headers: true, autoConf: true), runner: ScriptedProcessRunner())
        #expect(auto.configPath(for: kernel) == "/lib/modules/\(kernel)/build/include/config/auto.conf")
        let given = KernelFacts(.init(installTree: "/lib/modules", sourceDirectoryOverride: "/src", configOverride: "/c"),
                                fileSystem: files(headers: true), runner: ScriptedProcessRunner())
        #expect(given.sourceDirectory(for: kernel) == "/src" && given.configPath(for: kernel) == "/c")
        #expect(!given.hasHeaders(kernel))
    }

    @Test("/boot/config-K is read only for a kernel without headers whose modules come from the fleet")
    func configurationWithoutHeaders() {
        let fleet = KernelFacts(.init(installTree: "/lib/modules", fleetConfigured: true), fileSystem: files(headers: false),
                                runner: ScriptedProcessRunner())
        #expect(fleet.takesModulesFromFleet(kernel))
        #expect(fleet.configForReading(kernel) == "/boot/config-\(kernel)")
        let noFleet = KernelFacts(.init(installTree: "/lib/modules"), fileSystem: files(headers: false), runner: ScriptedProcessRunner())
        #expect(noFleet.configForReading(kernel) == "/lib/modules/\(kernel)/build/.config")
        #expect(noFleet.fleetIdentity(kernel: kernel, arch: "x86_64") == nil)
        let withHeaders = KernelFacts(.init(installTree: "/lib/modules", fleetConfigured: true), fileSystem: files(headers: true),
                                      runner: ScriptedProcessRunner())
        #expect(!withHeaders.takesModulesFromFleet(kernel))
        #expect(withHeaders.configForReading(kernel) == "/lib/modules/\(kernel)/build/.config")
        #expect(withHeaders.fleetIdentity(kernel: kernel, arch: "x86_64") == nil)
        // No image in /boot: the identity is a failure that says why.
        guard case .failure(let problem)? = fleet.fleetIdentity(kernel: kernel, arch: "x86_64") else {
            Issue.record("a kernel without an image has an identity")
            return
        }
        #expect(problem.description.contains("/boot/vmlinuz-\(kernel)"))
    }

    @Test("module suffixes, clang and the compiler's version are each found once")
    func memoized() async {
        let runner = ScriptedProcessRunner { spec in
            ProcessOutcome(status: 0, standardOutput: Array("gcc-12 (Debian 12.2.0-14) 12.2.0\nmore\n".utf8))
        }
        let fs = files(headers: true)
        let facts = KernelFacts(.init(installTree: "/lib/modules"), fileSystem: fs, runner: runner)
        #expect(facts.compressedSuffixes(for: kernel) == [".xz"])
        fs.create("", at: "/lib/modules/\(kernel)/kernel/drivers/c.ko.zst")
        #expect(facts.compressedSuffixes(for: kernel) == [".xz"], "one walk per command")
        #expect(await facts.usesClang(kernel, environment: [:]))
        let first = await facts.headersIdentity(kernel: kernel, arch: "x86_64", environment: ["CC": "gcc-12"])
        let second = await facts.headersIdentity(kernel: kernel, arch: "x86_64", environment: ["CC": "gcc-12"])
        #expect(first == second && first.compiler == "gcc-12: gcc-12 (Debian 12.2.0-14) 12.2.0")
        #expect(runner.commandLines == ["gcc-12 --version"])
    }

    @Test("the headers' identity digests the configuration and Module.symvers of the injected file system")
    func headersIdentityReadsTheInjectedFileSystem() async {
        let fs = files(headers: true)
        fs.create("0x1 sym vmlinux EXPORT_SYMBOL\n", at: "/lib/modules/\(kernel)/build/Module.symvers")
        let facts = KernelFacts(.init(installTree: "/lib/modules"), fileSystem: fs, runner: ScriptedProcessRunner())
        let identity = await facts.headersIdentity(kernel: kernel, arch: "x86_64", environment: [:])
        #expect(identity.symversDigest == TreeDigest(fileSystem: fs).fileDigest("/lib/modules/\(kernel)/build/Module.symvers"))
        #expect(identity.symversDigest != "-", "Module.symvers exists only in memory")
    }
}
