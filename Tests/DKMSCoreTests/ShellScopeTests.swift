import DKMSTestSupport
import Testing
@testable import DKMSCore

/// The engine's shell scope: a subshell works on a copy, a redirected step
/// changes its caller's scope, a `local` variable keeps the caller's value,
/// and every scope has its own console. In memory: nothing is run.
@Suite("Shell scopes")
struct ShellScopeTests {
    let console = RecordingConsole()
    let engine: Engine

    init() {
        var settings = Settings()
        settings.module = "hello"
        settings.moduleVersion = "1.0"
        settings.force = true
        settings.environment = ["PATH": "/usr/bin"]
        engine = Engine(settings: settings, console: console, runner: ScriptedProcessRunner(), fileSystem: InMemoryFileSystem())
    }

    @Test("a command starts in the scope of its command line")
    func startsFromSettings() {
        #expect(engine.scope.module == "hello")
        #expect(engine.scope.version == "1.0")
        #expect(engine.scope.force)
        #expect(!engine.scope.forceVersionOverride)
        #expect(engine.scope.environment == ["PATH": "/usr/bin"])
        #expect(engine.scope.preparedKernel == "none")
    }

    @Test("what a subshell changes in its scope does not reach the caller's")
    func subshellDoesNotLeak() async {
        let status = await engine.subshell { shell throws(DKMSError) -> Int32 in
            shell.scope.module = "other"
            shell.scope.force = false
            shell.scope.preparedKernel = "6.1.0/x86_64"
            shell.scope.environment["CC"] = "clang"
            #expect(shell.scope.module == "other")
            return 3
        }
        #expect(status == 3)
        #expect(engine.scope.module == "hello")
        #expect(engine.scope.force)
        #expect(engine.scope.preparedKernel == "none")
        #expect(engine.scope.environment["CC"] == nil)
    }

    @Test("a subshell's failure is shown on its console and becomes its status; the caller's console stays empty")
    func subshellFailureIsItsStatus() async {
        let own = RecordingConsole()
        let failure = DKMSError(.emptyKernelOrArch, "do_build: Empty $kernelver or $arch")
        let status = await engine.subshell(console: own) { shell throws(DKMSError) -> Int32 in
            shell.console.line("inside")
            shell.scope.force = false
            throw failure
        }
        #expect(status == failure.status)
        #expect(status != 0)
        #expect(own.standardOutput == "inside\n")
        #expect(own.standardError.contains("do_build: Empty $kernelver or $arch"))
        #expect(console.standardOutput.isEmpty)
        #expect(console.standardError.isEmpty)
        #expect(engine.scope.force)
    }

    @Test("a value computed in a subshell is returned, its scope is not")
    func inSubshellReturnsItsValue() async {
        let seen = await engine.inSubshell { shell in
            shell.scope.packageName = "hello-dkms"
            return shell.scope.packageName
        }
        #expect(seen == "hello-dkms")
        #expect(engine.scope.packageName.isEmpty)
    }

    @Test("a redirected step changes the caller's scope, and its output goes to its own console only")
    func redirectedStepLeaks() async {
        let buffer = BufferedConsole()
        await engine.redirected(to: buffer) { step in
            step.console.line("prepared")
            step.scope.preparedKernel = "6.1.0/x86_64"
        }
        #expect(engine.scope.preparedKernel == "6.1.0/x86_64")
        #expect(console.standardOutput.isEmpty)
        buffer.flush(to: console)
        #expect(console.standardOutput == "prepared\n")
    }

    @Test("a redirected step that fails still leaves what it changed")
    func redirectedFailureLeaks() async {
        let failure = DKMSError(.emptyKernelOrArch, "boom")
        do throws(DKMSError) {
            try await engine.redirected(to: SilentConsole()) { step throws(DKMSError) in
                step.scope.compressedSuffix = ".xz"
                throw failure
            }
            Issue.record("the step's error was lost")
        } catch {
            #expect(error.status == failure.status)
        }
        #expect(engine.scope.compressedSuffix == ".xz")
        #expect(console.standardError.isEmpty)
    }

    @Test("a nested scope starts from its parent's scope, not the command line's")
    func nestedScopesStartFromTheirParent() async {
        engine.scope.module = "world"
        let seen = await engine.inSubshell { outer in
            outer.scope.version = "2.0"
            return await outer.inSubshell { inner in "\(inner.scope.module)/\(inner.scope.version)" }
        }
        #expect(seen == "world/2.0")
        #expect(engine.scope.version == "1.0")
    }

    @Test("a local variable keeps the caller's value; the step's other changes stay")
    func localVariableKeepsTheCallersValue() {
        var caller = engine.scope
        caller.force = false
        var step = caller
        step.force = true
        step.forceVersionOverride = true
        step.packageName = "hello"
        let after = caller.after(step, local: \.force)
        #expect(!after.force)
        #expect(after.forceVersionOverride)
        #expect(after.packageName == "hello")
        let withoutMemo = caller.after(step, local: \.packageName)
        #expect(withoutMemo.force)
        #expect(withoutMemo.packageName.isEmpty)
    }

    @Test("what the command shares is shared by every scope")
    func commandStateIsShared() async {
        await engine.inSubshell { shell in
            shell.shared.kernelChoiceNote = "said once"
            shell.shared.kernelsChosenForRoot = true
        }
        #expect(engine.shared.kernelChoiceNote == "said once")
        #expect(engine.shared.kernelsChosenForRoot)
        let facts = engine.kernels
        let seen = await engine.inSubshell { shell in shell.kernels === facts && shell.transaction === engine.transaction }
        #expect(seen)
    }
}
