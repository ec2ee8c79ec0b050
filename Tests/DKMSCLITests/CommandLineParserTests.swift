import DKMSCore
import DKMSTestSupport
import Testing
@testable import DKMSCLI

@Suite("Upstream's command-line grammar")
struct CommandLineParserTests {
    func parse(_ words: [String]) -> (Settings, ParseOutcome, RecordingConsole) {
        parseCommandLine(words)
    }

    @Test func actionMayAppearAnywhere() {
        let (settings, outcome, _) = parse(["-m", "foo", "-v", "1.0", "build", "-k", "6.1.0"])
        #expect(outcome == .proceed)
        #expect(settings.action == .build)
        #expect(settings.module == "foo")
        #expect(settings.moduleVersion == "1.0")
        #expect(settings.kernels == ["6.1.0"])
    }

    @Test func moduleSlashVersionAndKernelSlashArch() {
        let (settings, _, _) = parse(["install", "foo/1.0/extra", "-k", "6.1.0/x86_64", "--kernelver=6.2/arm64"])
        #expect(settings.module == "foo")
        #expect(settings.moduleVersion == "1.0/extra")
        #expect(settings.kernels == ["6.1.0", "6.2"])
        #expect(settings.arches == ["x86_64", "arm64"])
    }

    @Test func longOptionsMatchByPrefixAndTakeEqualsOrNextWord() {
        let (settings, _, _) = parse(["status", "--modulefoo", "bar/2", "--dkmstree=/d", "--sourcetree", "/s",
                                      "--installtree=/i", "--directive", "A=b c", "--archive=/t.tar"])
        #expect(settings.module == "bar")
        #expect(settings.moduleVersion == "2")
        #expect(settings.dkmsTree == "/d")
        #expect(settings.sourceTree == "/s")
        #expect(settings.installTree == "/i")
        #expect(settings.directives == ["A=b c"])
        #expect(settings.archive == "/t.tar")
    }

    @Test("Short options only match the exact word", arguments: ["-j4", "-k=6.1", "-mfoo", "--forcefoo", "-x"])
    func shortOptionsAreExact(word: String) {
        let (_, outcome, console) = parse(["build", word])
        #expect(outcome == .exit(2))
        // After an error the usage is upstream's alone (the additions come with --help).
        #expect(console.standardError == "\nError! Unknown option: \(word)\n")
        #expect(console.standardOutput == Usage.text(program: "/usr/sbin/dkms"))
    }

    @Test func secondActionIsRefused() {
        let (_, outcome, console) = parse(["build", "install"])
        #expect(outcome == .exit(4))
        #expect(console.standardError == "\nError! Cannot specify more than one action.\n")
    }

    @Test func versionStopsParsing() {
        let (_, outcome, console) = parse(["--version", "-x"])
        #expect(outcome == .exit(0))
        #expect(console.standardOutput == "dkms-3.4.3\n")
    }

    @Test func valuesAreTrimmedLikeReadDashR() {
        let (settings, _, _) = parse(["-j", " 3 ", "-c", "a\nb"])
        #expect(settings.parallelJobs == "3")
        #expect(settings.conf == "a")
    }

    @Test func deprecatedOptionsWarnAndExtraWordsAreReported() {
        let (_, outcome, console) = parse(["status", "--no-initrd", "foo", "bar"])
        #expect(outcome == .proceed)
        #expect(console.standardError == "Deprecated feature: --no-initrd\nWarning: I do not know how to handle bar.\n")
    }

    @Test func positionalWordsAreClassifiedOnDisk() {
        let dir = TemporaryDirectory()
        Files.write("PACKAGE_NAME=x\n", to: dir.child("src/dkms.conf"))
        Files.write("tarball", to: dir.child("module.tar.gz"))
        #expect(parse(["add", dir.child("src")]).0.sourceTreeArgument == dir.child("src"))
        #expect(parse(["add", dir.child("src/dkms.conf")]).0.sourceTreeArgument == dir.child("src/") + "./")
        #expect(parse(["ldtarball", dir.child("module.tar.gz")]).0.archive == dir.child("module.tar.gz"))
    }

    @Test func displayNameResolvesThroughPath() {
        let dir = TemporaryDirectory()
        Files.write("#!/bin/sh\n", to: dir.child("bin/dkms"), executable: true)
        #expect(DKMSCommand.displayName("dkms", path: "/nonexistent:" + dir.child("bin")) == dir.child("bin/dkms"))
        #expect(DKMSCommand.displayName("./dkms", path: "") == "./dkms")
    }

    @Test func diagnosticsRenderLikeUpstream() {
        #expect(TerminalConsole.render(Diagnostic(kind: .error, lines: ["a", "b"])) == "\nError! a\nb\n")
        #expect(TerminalConsole.render(Diagnostic(kind: .warning, lines: ["w"])) == "Warning: w\n")
        #expect(TerminalConsole.render(Diagnostic(kind: .deprecated, lines: ["CLEAN (x)"])) == "Deprecated feature: CLEAN (x)\n")
    }
}
