/// GNU `sort -V` ordering (the Debian version-comparison core that
/// `filevercmp` uses): digit runs compare numerically, other runs
/// character by character with `~` first and letters before other
/// characters.
package enum VersionSort {
    /// Whether `a` sorts before `b`.
    package static func precedes(_ a: String, _ b: String) -> Bool {
        let order = compare(Array(a.utf8), Array(b.utf8))
        return order != 0 ? order < 0 : a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// Sorts strings as `sort -V` does.
    package static func sorted(_ values: [String]) -> [String] {
        values.sorted(by: precedes)
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    private static func isAlpha(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }

    private static func weight(_ c: UInt8?) -> Int {
        guard let c else { return 0 }
        if isDigit(c) { return 0 }
        if isAlpha(c) { return Int(c) }
        if c == UInt8(ascii: "~") { return -1 }
        return Int(c) + 256
    }

    static func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var i = 0
        var j = 0
        while i < a.count || j < b.count {
            var firstDiff = 0
            while (i < a.count && !isDigit(a[i])) || (j < b.count && !isDigit(b[j])) {
                let wa = weight(i < a.count ? a[i] : nil)
                let wb = weight(j < b.count ? b[j] : nil)
                if wa != wb { return wa - wb }
                i += 1
                j += 1
            }
            while i < a.count && a[i] == 0x30 { i += 1 }
            while j < b.count && b[j] == 0x30 { j += 1 }
            while i < a.count && j < b.count && isDigit(a[i]) && isDigit(b[j]) {
                if firstDiff == 0 { firstDiff = Int(a[i]) - Int(b[j]) }
                i += 1
                j += 1
            }
            if i < a.count && isDigit(a[i]) { return 1 }
            if j < b.count && isDigit(b[j]) { return -1 }
            if firstDiff != 0 { return firstDiff }
        }
        return 0
    }
}
