import DKMSCore
import DKMSTestSupport
@testable import DKMSCLI

/// Parses `words` as dkms would (program `/usr/sbin/dkms`, sleeps silenced)
/// and returns the settings, the outcome and what was printed.
func parseCommandLine(_ words: [String]) -> (Settings, ParseOutcome, RecordingConsole) {
    let console = RecordingConsole()
    var settings = Settings()
    settings.programName = "/usr/sbin/dkms"
    var parser = CommandLineParser(console: console)
    parser.silence = {}
    let outcome = parser.parse(words, into: &settings)
    return (settings, outcome, console)
}
