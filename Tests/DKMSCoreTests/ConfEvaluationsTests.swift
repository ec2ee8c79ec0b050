import DKMSTestSupport
import Foundation
import Testing
@testable import DKMSCore

/// The keys under which a command keeps its dkms.conf evaluations: a plain
/// evaluation is shared only where its result cannot differ, and a file that
/// changed is never answered from the memo.
@Suite("dkms.conf evaluations kept by their inputs")
struct ConfEvaluationsTests {
    let directory = TemporaryDirectory()

    func request(kernel: String = "6.1.0-1-amd64", environment: [String: String] = ["PATH": "/usr/bin:/bin"],
                 unsetFirst: Bool = true, warnings: Bool = false) -> ShellSourcer.Request {
        .init(globals: [("kernelver", ShellArray(scalar: kernel))], environment: environment,
              files: [directory.child("dkms.conf")], names: ModuleConfig.variableNames, unsetFirst: unsetFirst,
              deprecationWarnings: warnings)
    }

    @Test func aPlainEvaluationIsSharedAcrossKernelsAndEnvironmentsOnly() {
        Files.write("PACKAGE_NAME=m\n", to: directory.child("dkms.conf"))
        let stamps = ConfEvaluations.fileStamps([directory.child("dkms.conf")], fileSystem: LocalFileSystem())
        let first = ConfEvaluations.plainKey(request(), stamps: stamps, quiet: false)
        #expect(first != nil)
        #expect(ConfEvaluations.plainKey(request(kernel: "6.1.0-2-amd64", environment: ["A": "b"]), stamps: stamps, quiet: false) == first)
        #expect(ConfEvaluations.plainKey(request(), stamps: stamps, quiet: true) != first, "what it printed differs")
        #expect(ConfEvaluations.plainKey(request(warnings: true), stamps: stamps, quiet: false) != first)
        // Variables kept from before the files, or a directive only bash applies: never shared.
        #expect(ConfEvaluations.plainKey(request(unsetFirst: false), stamps: stamps, quiet: false) == nil)
        #expect(ConfEvaluations.plainKey(request(environment: ["DKMS_DIRECTIVE_X": "y"]), stamps: stamps, quiet: false) == nil)
        // The full key tells kernels apart.
        #expect(ConfEvaluations.fullKey(request(), stamps: stamps, quiet: false)
                != ConfEvaluations.fullKey(request(kernel: "6.1.0-2-amd64"), stamps: stamps, quiet: false))
    }

    @Test func stampsComeFromTheInjectedFileSystem() {
        let files = InMemoryFileSystem()
        let path = "/usr/src/m-1/dkms.conf"
        #expect(ConfEvaluations.fileStamps([path], fileSystem: files) == ["\(path)\u{1}-"])
        files.create("PACKAGE_NAME=m\n", at: path)
        let first = ConfEvaluations.fileStamps([path], fileSystem: files)
        #expect(first != ["\(path)\u{1}-"], "a file only in memory has a stamp")
        files.create("PACKAGE_NAME=mm\n", at: path)
        #expect(ConfEvaluations.fileStamps([path], fileSystem: files) != first, "a changed file has another stamp")
    }

    @Test func aChangedOrReplacedFileHasAnotherStamp() throws {
        let path = directory.child("dkms.conf")
        Files.write("PACKAGE_NAME=m\n", to: path)
        let first = ConfEvaluations.fileStamps([path], fileSystem: LocalFileSystem())
        #expect(ConfEvaluations.fileStamps([path], fileSystem: LocalFileSystem()) == first)
        Files.write("PACKAGE_NAME=mm\n", to: path)
        let longer = ConfEvaluations.fileStamps([path], fileSystem: LocalFileSystem())
        #expect(longer != first)
        // Same size, put in place by rename (as editors and packages do): another inode.
        Files.write("PACKAGE_NAME=nn\n", to: directory.child("new"))
        #expect(rename(directory.child("new"), path) == 0)
        #expect(ConfEvaluations.fileStamps([path], fileSystem: LocalFileSystem()) != longer)
        try FileManager.default.removeItem(atPath: path)
        #expect(ConfEvaluations.fileStamps([path], fileSystem: LocalFileSystem()) != longer)
    }

    @Test func theMemoAnswersWhatWasRecordedUnderTheKey() {
        var memo = ConfEvaluations()
        #expect(memo.plain("k") == nil)
        memo.recordPlain("k", nil)
        #expect(memo.plain("k") != nil && memo.plain("k")! == nil, "known to need bash")
        var variables = ShellVariables()
        variables["PACKAGE_NAME"] = ShellArray(scalar: "m")
        memo.recordPlain("p", .init(variables: variables, output: BufferedConsole()))
        #expect(memo.plain("p")??.variables == variables)
        #expect(memo.evaluation("p") == nil, "the two tables are apart")
    }
}
