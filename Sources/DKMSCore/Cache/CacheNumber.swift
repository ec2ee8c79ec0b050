/// Numbers read from files another machine or a server may have written
/// (manifests, signatures, counters): parsed strictly and bounded, and
/// added without trapping, so no value in a file can crash dkms.
package enum CacheNumber {
    /// A non-negative decimal number of ASCII digits only (no sign, no
    /// spaces) within `range`; nil otherwise, and for anything beyond `Int.max`.
    package static func parse<S: StringProtocol>(_ text: S, in range: ClosedRange<Int>) -> Int? {
        guard !text.utf8.isEmpty else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (scaled, overflow) = value.multipliedReportingOverflow(by: 10)
            let (next, carry) = scaled.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflow, !carry else { return nil }
            value = next
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

    /// `part` as a whole percentage of `part + rest` (rounded down), for
    /// non-negative counters of any size; nil when both are 0.
    package static func percent(_ part: Int, _ rest: Int) -> Int? {
        guard part >= 0, rest >= 0, part > 0 || rest > 0 else { return nil }
        let (total, sumOverflow) = part.addingReportingOverflow(rest)
        let (scaled, overflow) = part.multipliedReportingOverflow(by: 100)
        if !overflow && !sumOverflow { return scaled / total }
        return Int((Double(part) / (Double(part) + Double(rest)) * 100).rounded(.down))
    }
}
