import Testing
@testable import DKMSCore

@Suite("Shell text")
struct ShellTextTests {
    @Test func echoEscapesLikeEchoDashE() {
        #expect(ShellText.echoEscapes(#"a\tb\nc"#) == "a\tb\nc")
        #expect(ShellText.echoEscapes(#"keep\qthis"#) == #"keep\qthis"#)
        #expect(ShellText.echoEscapes(#"stop\chere"#) == "stop")
        #expect(ShellText.echoEscapes(#"\0101\x41"#) == "AA")
        #expect(ShellText.echoEscapes("plain") == "plain")
    }

    @Test func quoteRoundTripsThroughBash() async {
        let value = "it's $HOME and `x` \"q\""
        let outcome = await SubprocessRunner().run(ProcessSpec(
            "bash", ["-c", "printf %s " + ShellText.quote(value)], environment: ["PATH": "/usr/bin:/bin"], output: .capture))
        #expect(outcome.outputText == value)
    }

    @Test func readLineTrimsAndKeepsFirstLine() {
        #expect(ShellText.readLine("  6.1.0 \nsecond") == "6.1.0")
        #expect(ShellText.readLine("") == "")
    }

    @Test func wordsSplitOnBlanks() {
        #expect(ShellText.words(" a\tb  c\n") == ["a", "b", "c"])
    }
}
