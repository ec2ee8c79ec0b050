import Testing
@testable import DKMSCore

@Suite("Version ordering")
struct VersionOrderingTests {
    @Test("VER() pads every digit run to three digits", arguments: [
        ("6.1.0-56-amd64", "006.001.000-056-amd064"),
        ("2.6.9-1cvs200409091247", "002.006.009-001cvs200409091247"),
        ("6.10", "006.010"),
        ("10.20.300.4000", "010.020.300.4000"),
        ("3 4", "003004"),
        ("abc", "abc"),
        ("", ""),
    ])
    func paddedKey(input: String, expected: String) {
        #expect(VersionKey(input).text == expected)
    }

    @Test func numericComponentsCompareAsNumbers() {
        #expect(VersionKey("6.9") < VersionKey("6.10"))
        #expect(VersionKey("6.1.0-56-amd64") > VersionKey("6.1.0-9-amd64"))
        #expect(!(VersionKey("1.0") < VersionKey("1.0")))
    }

    @Test func sortDashVMatchesGNUSort() {
        let input = ["6.10.1", "6.9.0", "6.1.0-56-amd64", "6.1.0-9-amd64", "1.0~rc1", "1.0", "1.0a", "1.0.1"]
        #expect(VersionSort.sorted(input) == ["1.0~rc1", "1.0", "1.0a", "1.0.1", "6.1.0-9-amd64", "6.1.0-56-amd64", "6.9.0", "6.10.1"])
    }
}
