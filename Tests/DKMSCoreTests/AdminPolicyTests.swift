import DKMSTestSupport
import Testing
@testable import DKMSCore

/// The admin's per-module choices in /etc/dkms/MODULE.conf, evaluated by
/// bash as dkms.conf is, read once per module and command.
@Suite("Admin policy")
struct AdminPolicyTests {
    @Test("BUILD_CACHE=no and BUILD_SANDBOX=no turn one module's cache and sandbox off; others keep both; read once")
    func choices() async {
        let etc = TemporaryDirectory(prefix: "admin-policy")
        Files.write("BUILD_CACHE=no\n", to: etc.child("hello.conf"))
        Files.write("x=\"no\"; BUILD_SANDBOX=$x\n", to: etc.child("other.conf"))
        let policy = AdminPolicy(etcDirectory: etc.path, etcEntries: ["hello.conf", "other.conf"], fileSystem: LocalFileSystem(),
                                 runner: SubprocessRunner())
        let environment = ["PATH": "/usr/bin:/bin"]
        #expect(await policy.choices(module: "hello", environment: environment) == AdminModuleChoices(sandbox: true, cache: false))
        #expect(await policy.choices(module: "other", environment: environment) == AdminModuleChoices(sandbox: false, cache: true))
        #expect(await policy.choices(module: "absent", environment: environment) == AdminModuleChoices())
        Files.write("BUILD_CACHE=yes\n", to: etc.child("hello.conf"))
        #expect(await policy.choices(module: "hello", environment: environment).cache == false, "read once per command")
        // A file that appeared after /etc/dkms was listed is not read (the listing is the command's).
        Files.write("BUILD_CACHE=no\n", to: etc.child("late.conf"))
        #expect(await policy.choices(module: "late", environment: environment).cache)
    }

    @Test("a plain MODULE.conf is read from the injected file system, without bash")
    func plainFileInMemory() async {
        let files = InMemoryFileSystem()
        files.create("BUILD_SANDBOX=no\n", at: "/etc/dkms/hello.conf")
        let runner = ScriptedProcessRunner()
        let policy = AdminPolicy(etcDirectory: "/etc/dkms", etcEntries: ["hello.conf"], fileSystem: files, runner: runner)
        #expect(await policy.choices(module: "hello", environment: [:]) == AdminModuleChoices(sandbox: false, cache: true))
        #expect(runner.specs.isEmpty)
    }
}
