import DKMSTestSupport
import Foundation
import Testing
@testable import DKMSCore

@Suite("ModuleInfoReader")
struct ModuleInfoReaderTests {
    static let environment = ProcessInfo.processInfo.environment
    static let modinfo = ["/sbin/modinfo", "/usr/sbin/modinfo", "/usr/bin/modinfo"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// C source whose object carries the given `.modinfo` strings.
    static func source(_ entries: [String], alignment: Int = 1) -> String {
        entries.enumerated().map { index, entry in
            let literal = entry.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "__attribute__((section(\".modinfo\"), used, aligned(\(alignment)))) static const char e\(index)[] = \"\(literal)\";\n"
        }.joined() + "int f(void) { return 0; }\n"
    }

    /// Compiles C source with `cc -c` into `dir/name` (extra flags such as
    /// `-m32`); nil when the compiler refuses.
    static func compile(_ source: String, in dir: TemporaryDirectory, name: String, flags: [String] = []) -> String? {
        let c = dir.child(name + ".c")
        Files.write(source, to: c)
        let output = dir.child(name)
        let result = CommandRunner.run("/usr/bin/env", ["cc"] + flags + ["-c", c, "-o", output], environment: environment)
        return result.status == 0 ? output : nil
    }

    /// `modinfo -F key path`, one value per line, or nil without modinfo
    /// (a failing modinfo yields its error text, so the comparison fails).
    static func modinfoField(_ key: String, _ path: String) -> [String]? {
        guard let modinfo else { return nil }
        let result = CommandRunner.run(modinfo, ["-F", key, path], environment: environment)
        guard result.status == 0 else { return ["modinfo failed: \(result)"] }
        var lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    static func pairs(_ entries: [(key: String, value: String)]?) -> [String]? {
        entries?.map { "\($0.key)=\($0.value)" }
    }

    static let sample = [
        "version=1.0",
        "srcversion=0123456789ABCDEF0123456",
        "alias=pci:v00008086d*",
        "alias=net-pf-15",
        "description=",
        "options=a=b=c",
        "license=GPL",
        "vermagic=6.1.0-56-amd64 SMP preempt mod_unload modversions ",
    ]

    @Test func compiledObjectMatchesModinfo() throws {
        let dir = TemporaryDirectory()
        let path = try #require(Self.compile(Self.source(Self.sample), in: dir, name: "sample.ko"))
        #expect(Self.pairs(ModuleInfoReader.read(path: path)) == Self.sample)

        let fields = ModuleInfoReader.fields(path: path)
        #expect(fields["alias"] == ["pci:v00008086d*", "net-pf-15"])
        #expect(fields["description"] == [""])
        #expect(fields["options"] == ["a=b=c"])
        #expect(fields["signer"] == nil)
        #expect(fields.count == 7)

        for key in ["version", "srcversion", "alias", "description", "options", "license", "vermagic"] {
            guard let expected = Self.modinfoField(key, path) else { continue }
            #expect(fields[key] ?? [] == expected, "modinfo -F \(key)")
        }
    }

    @Test func paddingIsSkippedAndKeysWithoutEqualsHaveEmptyValues() throws {
        let dir = TemporaryDirectory()
        let path = try #require(Self.compile(Self.source(["noequals", "version=2", "name=x"], alignment: 8),
                                             in: dir, name: "padded.ko"))
        #expect(Self.pairs(ModuleInfoReader.read(path: path)) == ["noequals=", "version=2", "name=x"])
        if let expected = Self.modinfoField("noequals", path) { #expect(expected == [""]) }
    }

    @Test func thirtyTwoBitObject() throws {
        let dir = TemporaryDirectory()
        guard let path = Self.compile(Self.source(Self.sample), in: dir, name: "sample32.ko", flags: ["-m32"]) else { return }
        #expect(Array(try #require(Files.read(path)).utf8.prefix(5)) == [0x7F, 0x45, 0x4C, 0x46, 1])
        #expect(Self.pairs(ModuleInfoReader.read(path: path)) == Self.sample)
        if let expected = Self.modinfoField("alias", path) { #expect(expected == ["pci:v00008086d*", "net-pf-15"]) }
    }

    @Test(arguments: [(true, true), (true, false), (false, true), (false, false)])
    func builtObjectsOfEveryClassAndByteOrder(is64: Bool, little: Bool) throws {
        let content = Array("version=3.2\0\0alias=a\0alias=b\0k=v=w\0".utf8)
        let dir = TemporaryDirectory()
        let path = dir.child("built.ko")
        try Data(ELFBuilder(is64: is64, little: little).object(sections: [(".text", [0xC3]), (".modinfo", content)]))
            .write(to: URL(fileURLWithPath: path))
        #expect(Self.pairs(ModuleInfoReader.read(path: path)) == ["version=3.2", "alias=a", "alias=b", "k=v=w"])
        if let expected = Self.modinfoField("alias", path) { #expect(expected == ["a", "b"]) }
    }

    /// A module larger than the part read up front: `.modinfo` straddling
    /// its end or lying past it, and the section table past it, are read
    /// exactly; cut anywhere around that boundary, the answer is nil or whole.
    @Test(arguments: [true, false])
    func modulesLargerThanTheFirstRead(is64: Bool) throws {
        let content = Array("version=7.1\0alias=x\0".utf8)
        let dir = TemporaryDirectory()
        let path = dir.child("large.ko")
        for filler in [60_000, 65_520, 65_536, 200_000] {
            let bytes = ELFBuilder(is64: is64, little: true)
                .object(sections: [(".text", [UInt8](repeating: 0xC3, count: filler)), (".modinfo", content)])
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect(Self.pairs(ModuleInfoReader.read(path: path)) == ["version=7.1", "alias=x"], "filler \(filler)")
            if filler == 65_520 {
                for length in stride(from: 65_400, to: bytes.count, by: 7) {
                    try Data(bytes[0..<length]).write(to: URL(fileURLWithPath: path))
                    let result = Self.pairs(ModuleInfoReader.read(path: path))
                    #expect(result == nil || result == ["version=7.1", "alias=x"], "cut at \(length)")
                }
            }
        }
    }

    /// Status reads a small installed module once for its `.modinfo` and
    /// the comparison; the comparison still sees every byte, of small and
    /// large files, and a file changed after the first read is compared as
    /// first read (one status line reads one state).
    @Test func moduleFileContentsCompareEveryByte() throws {
        let dir = TemporaryDirectory()
        let content = Array("version=1\0".utf8)
        for filler in [100, 70_000] {
            let a = dir.child("a\(filler).ko"), b = dir.child("b\(filler).ko")
            var bytes = ELFBuilder(is64: true, little: true)
                .object(sections: [(".text", [UInt8](repeating: 1, count: filler)), (".modinfo", content)])
            try Data(bytes).write(to: URL(fileURLWithPath: a))
            try Data(bytes).write(to: URL(fileURLWithPath: b))
            var files = ModuleFileContents()
            let info = files.modinfo(of: b)
            #expect(Self.pairs(info) == ["version=1"])
            let (_, kept) = ModuleInfoReader.readKeepingSmallFile(path: b)
            #expect((kept != nil) == (bytes.count <= 1 << 16), "kept only when read whole")
            let same = files.sameContent(a, b)
            #expect(same)
            bytes[bytes.count / 2] ^= 0xFF
            try Data(bytes).write(to: URL(fileURLWithPath: a))
            var fresh = ModuleFileContents()
            let freshInfo = fresh.modinfo(of: b)
            #expect(Self.pairs(freshInfo) == ["version=1"])
            let differing = fresh.sameContent(a, b), missing = fresh.sameContent(a, dir.child("missing.ko"))
            #expect(!differing, "one byte differs (size \(bytes.count))")
            #expect(!missing)
        }
    }

    @Test func extendedSectionNumbering() throws {
        let dir = TemporaryDirectory()
        let path = dir.child("extended.ko")
        try Data(ELFBuilder(is64: true, little: true).object(sections: [(".modinfo", Array("version=9\0".utf8))], extended: true))
            .write(to: URL(fileURLWithPath: path))
        #expect(Self.pairs(ModuleInfoReader.read(path: path)) == ["version=9"])
    }

    @Test func realModuleMatchesModinfo() throws {
        guard Self.modinfo != nil, let path = Self.installedModule() else { return }
        let fields = ModuleInfoReader.fields(path: path)
        #expect(!fields.isEmpty, "\(path)")
        #expect(fields["vermagic"] != nil, "\(path)")
        for key in ["version", "srcversion", "vermagic", "license", "alias", "depends", "name", "intree"] {
            guard let expected = Self.modinfoField(key, path) else { continue }
            #expect(fields[key] ?? [] == expected, "modinfo -F \(key) \(path)")
        }
    }

    /// af_key.ko if installed, or another uncompressed module.
    static func installedModule() -> String? {
        let root = "/lib/modules"
        let kernels = Files.list(root)
        for kernel in kernels {
            let path = "\(root)/\(kernel)/kernel/net/key/af_key.ko"
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        for kernel in kernels {
            guard let walker = FileManager.default.enumerator(atPath: "\(root)/\(kernel)") else { continue }
            for case let relative as String in walker where relative.hasSuffix(".ko") {
                return "\(root)/\(kernel)/\(relative)"
            }
        }
        return nil
    }

    @Test func unreadableOrForeignFilesAreNil() throws {
        let dir = TemporaryDirectory()
        Files.write("", to: dir.child("empty.ko"))
        Files.write("this is not an ELF file at all, just text\n", to: dir.child("text.ko"))
        Files.write("\u{7F}ELF", to: dir.child("magic.ko"))
        Files.makeDirectory(dir.child("directory.ko"))
        var random = SystemRandomNumberGenerator()
        try Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &random) })
            .write(to: URL(fileURLWithPath: dir.child("random.ko")))
        for name in ["empty.ko", "text.ko", "magic.ko", "directory.ko", "random.ko", "missing.ko"] {
            #expect(ModuleInfoReader.read(path: dir.child(name)) == nil, "\(name)")
            #expect(ModuleInfoReader.fields(path: dir.child(name)).isEmpty, "\(name)")
        }

        // An object without .modinfo, a linked executable, a gzipped module.
        let plain = try #require(Self.compile("int f(void) { return 1; }\n", in: dir, name: "plain.ko"))
        #expect(ModuleInfoReader.read(path: plain) == nil)
        let module = try #require(Self.compile(Self.source(Self.sample), in: dir, name: "m.ko"))
        let c = dir.child("main.c")
        Files.write(Self.source(["version=1"]) + "int main(void) { return f(); }\n", to: c)
        if CommandRunner.run("/usr/bin/env", ["cc", c, "-o", dir.child("exe")], environment: Self.environment).status == 0 {
            #expect(ModuleInfoReader.read(path: dir.child("exe")) == nil)
        }
        if CommandRunner.run("/usr/bin/env", ["gzip", "-k", module], environment: Self.environment).status == 0 {
            #expect(ModuleInfoReader.read(path: module + ".gz") == nil)
        }
    }

    @Test func truncatedAndCorruptedObjectsNeverCrash() throws {
        let dir = TemporaryDirectory()
        let path = try #require(Self.compile(Self.source(Self.sample), in: dir, name: "whole.ko"))
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let full = Self.pairs(ModuleInfoReader.read(path: path))
        let cut = dir.child("cut.ko")
        for length in 0..<whole.count {
            try Data(whole[0..<length]).write(to: URL(fileURLWithPath: cut))
            let result = Self.pairs(ModuleInfoReader.read(path: cut))
            #expect(result == nil || result == full, "truncated at \(length)")
        }
        // Flipped bytes in the headers and section table: any answer but a crash.
        var generator = SplitMix(seed: 0xD1C5)
        let headerEnd = min(whole.count, 64)
        for round in 0..<2000 {
            var bytes = whole
            for _ in 0..<(1 + round % 4) {
                let index = round % 2 == 0
                    ? Int(generator.next() % UInt64(headerEnd))
                    : Int(generator.next() % UInt64(whole.count))
                bytes[index] = UInt8(truncatingIfNeeded: generator.next())
            }
            try Data(bytes).write(to: URL(fileURLWithPath: cut))
            _ = ModuleInfoReader.read(path: cut)
        }
    }
}

/// A deterministic generator for the corruption rounds.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Writes minimal ELF relocatable objects of any class and byte order:
/// header, section contents, `.shstrtab`, then the section header table.
private struct ELFBuilder {
    var is64: Bool
    var little: Bool

    func put(_ value: UInt64, _ width: Int, into bytes: inout [UInt8]) {
        for i in 0..<width {
            let shift = little ? i * 8 : (width - 1 - i) * 8
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    /// With `extended`, the section count and name-table index are stored
    /// in section 0 as for objects with more than 0xff00 sections.
    func object(sections: [(name: String, content: [UInt8])], extended: Bool = false) -> [UInt8] {
        let headerSize = is64 ? 64 : 52
        let entrySize = is64 ? 64 : 40
        var names: [UInt8] = [0]
        var nameOffsets: [Int] = []
        for section in sections + [(name: ".shstrtab", content: [])] {
            nameOffsets.append(names.count)
            names += Array(section.name.utf8) + [0]
        }
        var body: [UInt8] = []
        var offsets: [Int] = []
        for content in sections.map(\.content) + [names] {
            offsets.append(headerSize + body.count)
            body += content
        }
        while (headerSize + body.count) % 8 != 0 { body.append(0) }
        let tableOffset = headerSize + body.count
        let count = sections.count + 2
        let namesIndex = count - 1

        var out: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, is64 ? 2 : 1, little ? 1 : 2, 1, 0]
        out += [UInt8](repeating: 0, count: 8)
        put(1, 2, into: &out)                     // e_type ET_REL
        put(is64 ? 62 : 3, 2, into: &out)         // e_machine
        put(1, 4, into: &out)                     // e_version
        put(0, is64 ? 8 : 4, into: &out)          // e_entry
        put(0, is64 ? 8 : 4, into: &out)          // e_phoff
        put(UInt64(tableOffset), is64 ? 8 : 4, into: &out)
        put(0, 4, into: &out)                     // e_flags
        put(UInt64(headerSize), 2, into: &out)
        put(0, 2, into: &out)                     // e_phentsize
        put(0, 2, into: &out)                     // e_phnum
        put(UInt64(entrySize), 2, into: &out)
        put(extended ? 0 : UInt64(count), 2, into: &out)
        put(extended ? 0xFFFF : UInt64(namesIndex), 2, into: &out)
        out += body

        func header(name: Int, type: UInt64, offset: Int, size: Int, link: Int = 0) {
            let word = is64 ? 8 : 4
            put(UInt64(name), 4, into: &out)
            put(type, 4, into: &out)
            put(0, word, into: &out)               // sh_flags
            put(0, word, into: &out)               // sh_addr
            put(UInt64(offset), word, into: &out)
            put(UInt64(size), word, into: &out)
            put(UInt64(link), 4, into: &out)
            put(0, 4, into: &out)                  // sh_info
            put(1, word, into: &out)               // sh_addralign
            put(0, word, into: &out)               // sh_entsize
        }
        header(name: 0, type: 0, offset: 0, size: extended ? count : 0, link: extended ? namesIndex : 0)
        for (index, section) in sections.enumerated() {
            header(name: nameOffsets[index], type: 1, offset: offsets[index], size: section.content.count)
        }
        header(name: nameOffsets[sections.count], type: 3, offset: offsets[sections.count], size: names.count)
        return out
    }
}
