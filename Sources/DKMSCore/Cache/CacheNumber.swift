/// Numbers read from files another machine or a server may have written
/// (manifests, signatures, counters): parsed strictly and bounded, and
/// added without trapping, so no value in a file can crash dkms.
package enum CacheNumber {
    /// The most digits a number may have (more is never in range).
    static let maxDigits = 18

    /// A non-negative decimal number of ASCII digits only (no sign, no
    /// spaces, at most 18 digits) within `range`; nil otherwise.
    package static func parse<S: StringProtocol>(_ text: S, in range: ClosedRange<Int>) -> Int? {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= maxDigits else { return nil }
        var value = 0
        for byte in utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return range.contains(value) ? value : nil
    }

    /// `a + b`, or `Int.max` (`Int.min`) where that overflows.
    package static func sum(_ a: Int, _ b: Int) -> Int {
        let (result, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : result
    }

    /// `a * b`, or `Int.max` (`Int.min`) where that overflows.
    package static func product(_ a: Int, _ b: Int) -> Int {
        let (result, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? ((a < 0) != (b < 0) ? .min : .max) : result
    }

    /// `part` as a whole percentage of `total` (rounded down), for
    /// counters of any size; nil when `total` is not positive.
    package static func percent(_ part: Int, of total: Int) -> Int? {
        guard total > 0 else { return nil }
        let (scaled, overflow) = part.multipliedReportingOverflow(by: 100)
        if !overflow { return scaled / total }
        let percent = (Double(part) / Double(total) * 100).rounded(.down)
        return percent < 9.0e18 ? Int(percent) : .max
    }
}
