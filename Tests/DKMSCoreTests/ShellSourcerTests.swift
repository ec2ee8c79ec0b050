import DKMSTestSupport
import Testing
@testable import DKMSCore

@Suite("Evaluating dkms.conf with bash")
struct ShellSourcerTests {
    let directory = TemporaryDirectory()

    func evaluate(_ files: [String: String], order: [String], globals: [(name: String, value: ShellArray)] = [],
                  environment: [String: String] = ["PATH": "/usr/bin:/bin"]) async -> ShellVariables {
        for (name, text) in files { Files.write(text, to: directory.child(name)) }
        return await ShellSourcer(runner: SubprocessRunner()).evaluate(.init(
            globals: globals, environment: environment, files: order.map(directory.child),
            names: ModuleConfig.variableNames, unsetFirst: true))
    }

    @Test func sparseArraysKeepTheirIndices() async {
        let values = await evaluate(["dkms.conf": "BUILT_MODULE_NAME[0]=a\nBUILT_MODULE_NAME[3]=d\n"], order: ["dkms.conf"])
        #expect(values["BUILT_MODULE_NAME"].indices == [0, 3])
        #expect(values["BUILT_MODULE_NAME"].maxIndex == 3)
        #expect(values["BUILT_MODULE_NAME"][3] == "d")
    }

    @Test func carriageReturnsAreStripped() async {
        let values = await evaluate(["dkms.conf": "PACKAGE_NAME=\"crlf\"\r\nPACKAGE_VERSION=\"1.0\"\r\n"], order: ["dkms.conf"])
        #expect(values["PACKAGE_NAME"].value == "crlf")
        #expect(values["PACKAGE_VERSION"].value == "1.0")
    }

    @Test func dkmsVariablesAndCommandSubstitutionsWork() async {
        let conf = """
            PACKAGE_NAME=demo
            PACKAGE_VERSION=$(echo 2.0)
            if [ "$kernelver" = "6.1.0-1-amd64" ]; then MAKE[0]="make KVER=$kernelver"; fi
            BUILT_MODULE_LOCATION[0]=${kernel_source_dir-none}/x
            """
        let values = await evaluate(["dkms.conf": conf], order: ["dkms.conf"], globals: [
            ("kernelver", ShellArray(scalar: "6.1.0-1-amd64")), ("kernel_source_dir", ShellArray(scalar: "/k")),
        ])
        #expect(values["PACKAGE_VERSION"].value == "2.0")
        #expect(values["MAKE"].value == "make KVER=6.1.0-1-amd64")
        #expect(values["BUILT_MODULE_LOCATION"].value == "/k/x")
    }

    @Test func laterFilesOverrideAndSeeEarlierValues() async {
        let values = await evaluate([
            "dkms.conf": "PACKAGE_NAME=demo\nPACKAGE_VERSION=1.0\nAUTOINSTALL=yes\n",
            "override.conf": "PACKAGE_VERSION=\"$PACKAGE_VERSION-local\"\nAUTOINSTALL=no\n",
        ], order: ["dkms.conf", "override.conf"])
        #expect(values["PACKAGE_VERSION"].value == "1.0-local")
        #expect(values["AUTOINSTALL"].value == "no")
    }

    @Test func indicesWithALeadingZeroAreOctalAndEightIsAnError() async {
        var values = await evaluate(["dkms.conf": "PACKAGE_NAME=a\nBUILT_MODULE_NAME[010]=x\n"], order: ["dkms.conf"])
        #expect(values["BUILT_MODULE_NAME"].indices == [8])
        // bash stops at [08]: nothing of the file is read back.
        values = await evaluate(["dkms.conf": "PACKAGE_NAME=a\nBUILT_MODULE_NAME[08]=x\n"], order: ["dkms.conf"])
        #expect(values.arrays.isEmpty)
    }

    @Test func blanksInValuesAreCollapsedByTheReadBack() async {
        let values = await evaluate(["dkms.conf": "PACKAGE_VERSION=\"1  0\"\nPACKAGE_NAME=\" a\t\tb \"\n"], order: ["dkms.conf"])
        #expect(values["PACKAGE_VERSION"].value == "1 0")
        #expect(values["PACKAGE_NAME"].value == " a b ")
    }

    @Test func shellStatementsBehaveAsInUpstreamsFunction() async {
        // local works (the file is sourced in a function), set -e is ignored,
        // and IFS set by the file splits the read-back.
        let values = await evaluate(["dkms.conf": """
            local L=1
            declare D=2
            set -e
            false
            PACKAGE_NAME="n$L$D"
            IFS=.
            PACKAGE_VERSION="1.2.3"
            """], order: ["dkms.conf"])
        #expect(values["PACKAGE_NAME"].value == "n12")
        #expect(values["PACKAGE_VERSION"].value == "1 2 3")
    }

    @Test func valuesAreExpandedASecondTime() async {
        // Upstream prints NAME[i]="value" and sources it back, so a
        // single-quoted $variable expands in dkms' own shell.
        let values = await evaluate(["dkms.conf": "MAKE[0]='make K=$kernelver'\n"], order: ["dkms.conf"],
                                    globals: [("kernelver", ShellArray(scalar: "6.1"))])
        #expect(values["MAKE"].value == "make K=6.1")
    }

    @Test func directiveEnvironmentVariablesOverride() async {
        let values = await evaluate(["dkms.conf": "PACKAGE_NAME=demo\nPACKAGE_VERSION=1.0\n"], order: ["dkms.conf"],
                                    environment: ["PATH": "/usr/bin:/bin", "DKMS_DIRECTIVE_X": "PACKAGE_VERSION=9.9"])
        #expect(values["PACKAGE_VERSION"].value == "9.9")
    }

    @Test func environmentValuesAreClearedBeforeReading() async {
        let values = await evaluate(["dkms.conf": "PACKAGE_NAME=demo\n"], order: ["dkms.conf"],
                                    environment: ["PATH": "/usr/bin:/bin", "PACKAGE_VERSION": "leaked"])
        #expect(!values.isSet("PACKAGE_VERSION"))
    }

    @Test func functionsDefinedInAFileDoNotLeak() async {
        let values = await evaluate([
            "a.conf": "PACKAGE_NAME() { :; }\nPACKAGE_VERSION=1\n",
            "b.conf": "PACKAGE_NAME=ok\n",
        ], order: ["a.conf", "b.conf"])
        #expect(values["PACKAGE_NAME"].value == "ok")
    }
}
