import DKMSCore
import DKMSTestSupport
import Testing
@testable import DKMSCLI

/// The one table of what swift-dkms adds to upstream's command line, and
/// everything rendered from it.
@Suite("Additions table")
struct AdditionsTests {
    func parse(_ words: [String]) -> (Settings, ParseOutcome, RecordingConsole) {
        parseCommandLine(words)
    }

    @Test func everyActionIsUpstreamsOrInTheTable() {
        let added = Set(Additions.actions.map(\.name))
        let upstream = Set(Usage.upstreamActions)
        #expect(added.isDisjoint(with: upstream))
        #expect(Set(Action.allCases.map(\.rawValue)) == added.union(upstream))
        for action in Usage.upstreamActions {
            #expect(Usage.text(program: "dkms").contains(action))
        }
    }

    @Test func namesAreUnique() {
        let names = Additions.table.map(\.name)
        #expect(Set(names).count == names.count)
    }

    @Test("No added option is shadowed by an upstream option", arguments: Additions.options.map(\.name))
    func optionsAreReachable(name: String) {
        #expect(name.hasPrefix("--"))
        #expect(CommandLineParser.shortOptions[name] == nil)
        for (prefix, _) in CommandLineParser.prefixOptions {
            #expect(!name.hasPrefix(prefix), "\(name) would be parsed as \(prefix)")
        }
        #expect(!Usage.text(program: "dkms").contains("[\(name)"))
    }

    @Test("The parser accepts every added option", arguments: Additions.options.map(\.name))
    func parserAcceptsOption(name: String) throws {
        let option = try #require(Additions.options.first { $0.name == name })
        var words = ["status", name]
        if option.value != nil { words.append(try #require(option.choices.first)) }
        let (_, outcome, console) = parse(words)
        #expect(!console.standardError.contains("Unknown option"))
        if name != "--print-additions" {
            #expect(outcome == .proceed)
            #expect(console.standardError.isEmpty)
        }
    }

    /// Options the parser names itself are upstream's: an added option
    /// written into the parser instead of the table would be in no usage,
    /// man page or completion.
    @Test func theParserNamesOnlyUpstreamsOptions() throws {
        let source = try String(contentsOfFile: #filePath.replacing("Tests/DKMSCLITests/AdditionsTests.swift",
                                                                    with: "Sources/DKMSCLI/CommandLineParser.swift"), encoding: .utf8)
        // Upstream 3.4.3 accepts these without listing them in its usage.
        let unlisted: Set<String> = ["--module", "--kernelver", "--arch", "--quiet", "--symlink-modules", "--debug",
                                     "--no-initrd", "--no-clean-kernel", "--no-prepare-kernel", "-V", "-h"]
        let usage = Usage.text(program: "dkms")
        let literals = source.matches(of: /"(--?[A-Za-z][A-Za-z_-]*)/).map { String($0.output.1) }
        #expect(literals.count > 30)
        for option in Set(literals) where !unlisted.contains(option) {
            #expect(usage.contains("[\(option)") || usage.contains(" \(option) ") || usage.contains("[\(option)="),
                    "\(option) is not upstream's: add it to Additions.table")
        }
    }

    @Test func dryRunJsonAndFormat() {
        #expect(parse(["build", "--dry-run"]).0.dryRun)
        #expect(parse(["status", "--json"]).0.jsonOutput)
        #expect(parse(["status", "--format", "json"]).0.jsonOutput)
        #expect(parse(["status", "--format=json", "-m", "x"]).0.module == "x")
        #expect(parse(["status", "--format=json"]).0.jsonOutput)
        let (_, outcome, console) = parse(["status", "--format", "xml"])
        #expect(outcome == .exit(2))
        #expect(console.standardError == "\nError! Unknown output format: xml\n")
        #expect(console.standardOutput.isEmpty)
    }

    @Test func printAdditionsPrintsEachFormatAndExits() {
        for format in AdditionsFormat.allCases {
            let (_, outcome, console) = parse(["--print-additions", format.rawValue, "build"])
            #expect(outcome == .exit(0))
            #expect(console.standardOutput == AdditionsRenderer.render(format))
        }
        let (_, outcome, console) = parse(["--print-additions=html"])
        #expect(outcome == .exit(2))
        #expect(console.standardError == "\nError! Unknown additions format: html\n")
    }

    @Test func helpKeepsUpstreamsTextOnStandardOutput() {
        let (_, outcome, console) = parse(["--help"])
        #expect(outcome == .exit(0))
        #expect(console.standardOutput == Usage.text(program: "/usr/sbin/dkms"))
        #expect(console.standardError == AdditionsRenderer.render(.text))
    }

    @Test("Every rendering names every addition", arguments: AdditionsFormat.allCases)
    func renderingsNameEverything(format: AdditionsFormat) {
        let text = AdditionsRenderer.render(format)
        for addition in Additions.table {
            let name = format == .man ? addition.name.replacing("-", with: "\\-") : addition.name
            #expect(text.contains(name), "\(format) lacks \(addition.name)")
        }
    }

    @Test func textUsageFitsEightyColumns() {
        for line in AdditionsRenderer.render(.text).split(separator: "\n") {
            #expect(line.count <= 80, "\(line)")
        }
    }

    /// The completions offer an action's subcommands; cache's come from
    /// the engine's own list.
    @Test func subcommandsReachTheCompletions() {
        let words = CacheAction.cacheSubcommands.joined(separator: " ")
        #expect(CacheAction.cacheSubcommands.contains("locations"))
        #expect(AdditionsRenderer.render(.bash).contains("        cache) echo \"\(words)\" ;;\n"))
        #expect(AdditionsRenderer.render(.zsh).contains("dkms_added_words=(\n  cache '\(words)'\n)\n"))
        #expect(AdditionsRenderer.render(.man).contains("cache locations"))
        let table = [Addition.action(.fsck, "No subcommands.")]
        #expect(AdditionsRenderer.render(.bash, table: table).contains("_dkms_added_words()\n{\n    case $1 in\n        *) return 1 ;;"))
        #expect(AdditionsRenderer.render(.zsh, table: table).hasSuffix("dkms_added_words=(\n)\n"))
    }

    @Test func aNewEntryReachesEveryRendering() {
        let table = Additions.table + [
            .flag("--frobnicate", for: [.build], "Frobnicate the build.") { _ in },
            .action(.status, "A stand-in action."),
        ]
        #expect(AdditionsRenderer.render(.text, table: table).contains("[--frobnicate]"))
        #expect(AdditionsRenderer.render(.man, table: table).contains(".B \\-\\-frobnicate\n"))
        #expect(AdditionsRenderer.render(.bash, table: table).contains("build) echo \"--dry-run --no-cache --print-additions --frobnicate\""))
        #expect(AdditionsRenderer.render(.zsh, table: table).contains("'--frobnicate[frobnicate the build]'"))
        #expect(AdditionsRenderer.render(.zsh, table: table).contains("'status:a stand-in action'"))
    }
}
