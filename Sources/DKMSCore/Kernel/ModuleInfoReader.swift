#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads the `.modinfo` section of an uncompressed kernel module (an ELF
/// relocatable object), so dkms can learn `version`, `srcversion`,
/// `vermagic`, `license`… without spawning `modinfo` for every module.
///
/// Only the section's own `key=value` strings are returned, in file order,
/// exactly as the kernel and `modinfo -F KEY` see them. What `modinfo`
/// derives from elsewhere is not: the signature fields (`signer`,
/// `sig_key`, `sig_hashalgo`…) come from the signature appended after the
/// ELF data, `filename` from the path, and `parm` is printed by `modinfo`
/// merged with `parmtype`.
///
/// Compressed modules (`.ko.gz`, `.ko.xz`, `.ko.zst`) are not ELF files
/// and yield nil; callers fall back to running `modinfo` for them.
package enum ModuleInfoReader {
    /// The `.modinfo` entries of the module at `path` in file order, as
    /// `key=value` split at the first `=` (an entry without `=` has an
    /// empty value); empty entries (alignment padding) are skipped.
    ///
    /// Returns nil when the file cannot be read, or is not a well-formed
    /// 32- or 64-bit ELF relocatable object (either byte order) with a
    /// `.modinfo` section.
    package static func read(path: String) -> [(key: String, value: String)]? {
        guard let file = ModuleFile(path: path) else { return nil }
        defer { file.release() }
        guard let content = modinfoSection(file) else { return nil }
        return entries(content)
    }

    /// ``read(path:)``, also giving the file's bytes when it is small
    /// enough to have been read whole (the first read takes up to 64 KiB).
    package static func readKeepingSmallFile(path: String) -> (entries: [(key: String, value: String)]?, contents: [UInt8]?) {
        guard let file = ModuleFile(path: path) else { return (nil, nil) }
        defer { file.release() }
        let whole = UInt64(file.head.count) == file.size ? file.head : nil
        return (modinfoSection(file).map(entries), whole)
    }

    /// ``read(path:)`` of a file whose bytes are already known.
    package static func entries(ofFile contents: [UInt8]) -> [(key: String, value: String)]? {
        guard !contents.isEmpty else { return nil }
        return modinfoSection(ModuleFile(contents: contents)).map(entries)
    }

    /// The `.modinfo` values by key, keeping every value of a repeated key
    /// (`alias`, `depends`…) in file order. Empty when `read(path:)` is nil.
    package static func fields(path: String) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for entry in read(path: path) ?? [] {
            result[entry.key, default: []].append(entry.value)
        }
        return result
    }

    /// Splits section content on NUL into `key=value` entries.
    static func entries(_ content: [UInt8]) -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        for string in content.split(separator: 0, omittingEmptySubsequences: true) {
            if let equals = string.firstIndex(of: UInt8(ascii: "=")) {
                result.append((key: String(decoding: string[string.startIndex..<equals], as: UTF8.self),
                               value: String(decoding: string[(equals + 1)...], as: UTF8.self)))
            } else {
                result.append((key: String(decoding: string, as: UTF8.self), value: ""))
            }
        }
        return result
    }

    /// ELF constants used here.
    private enum ELF {
        static let magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]
        static let class32: UInt8 = 1
        static let class64: UInt8 = 2
        static let dataLittle: UInt8 = 1
        static let dataBig: UInt8 = 2
        static let typeRelocatable: UInt16 = 1
        static let sectionNoBits: UInt32 = 8
        static let sectionIndexExtended: UInt16 = 0xFFFF
    }

    /// The bytes of the `.modinfo` section, or nil.
    private static func modinfoSection(_ file: ModuleFile) -> [UInt8]? {
        guard let ident = file.bytes(at: 0, count: 16), Array(ident[0..<4]) == ELF.magic else { return nil }
        let is64: Bool
        switch ident[4] {
        case ELF.class32: is64 = false
        case ELF.class64: is64 = true
        default: return nil
        }
        let order: ByteOrder
        switch ident[5] {
        case ELF.dataLittle: order = .little
        case ELF.dataBig: order = .big
        default: return nil
        }
        guard let header = file.bytes(at: 0, count: is64 ? 64 : 52) else { return nil }
        let h = Fields(bytes: header, order: order)
        guard h.u16(16) == ELF.typeRelocatable else { return nil }

        let sectionTable = is64 ? h.u64(0x28) : UInt64(h.u32(0x20))
        let entrySize = UInt64(is64 ? h.u16(0x3A) : h.u16(0x2E))
        var count = UInt64(is64 ? h.u16(0x3C) : h.u16(0x30))
        var namesIndex = UInt64(is64 ? h.u16(0x3E) : h.u16(0x32))
        guard sectionTable > 0, entrySize >= (is64 ? 64 : 40) else { return nil }

        // The whole table once it is known to fit (one read instead of one
        // per section header).
        var table: [UInt8]?
        func section(_ index: UInt64) -> Section? {
            guard index < (1 << 32) else { return nil }
            let width = is64 ? 64 : 40
            let bytes: [UInt8]
            if let table, index * entrySize + UInt64(width) <= UInt64(table.count) {
                let start = Int(index * entrySize)
                bytes = Array(table[start..<(start + width)])
            } else {
                let (offset, overflow) = sectionTable.addingReportingOverflow(index * entrySize)
                guard !overflow, let read = file.bytes(at: offset, count: width) else { return nil }
                bytes = read
            }
            let s = Fields(bytes: bytes, order: order)
            return is64
                ? Section(name: s.u32(0), type: s.u32(4), offset: s.u64(24), size: s.u64(32), link: s.u32(40))
                : Section(name: s.u32(0), type: s.u32(4), offset: UInt64(s.u32(16)), size: UInt64(s.u32(20)), link: s.u32(24))
        }

        // Extended numbering: the real counts live in section 0.
        if count == 0 || namesIndex == UInt64(ELF.sectionIndexExtended) {
            guard let first = section(0) else { return nil }
            if count == 0 { count = first.size }
            if namesIndex == UInt64(ELF.sectionIndexExtended) { namesIndex = UInt64(first.link) }
        }
        guard count > 0, namesIndex < count,
              count <= file.size / entrySize else { return nil }
        table = file.bytes(at: sectionTable, size: count * entrySize)
        guard let names = section(namesIndex), names.type != ELF.sectionNoBits,
              let nameTable = file.bytes(at: names.offset, size: names.size) else { return nil }

        let wanted = Array(".modinfo".utf8)
        for index in 1..<count {
            guard let candidate = section(index) else { return nil }
            guard UInt64(candidate.name) < UInt64(nameTable.count) else { continue }
            let start = Int(candidate.name)
            guard nameTable.count - start > wanted.count, nameTable[start + wanted.count] == 0,
                  Array(nameTable[start..<(start + wanted.count)]) == wanted else { continue }
            if candidate.type == ELF.sectionNoBits { return [] }
            return file.bytes(at: candidate.offset, size: candidate.size)
        }
        return nil
    }

    /// One section header's fields that matter here.
    private struct Section {
        var name: UInt32
        var type: UInt32
        var offset: UInt64
        var size: UInt64
        var link: UInt32
    }

    private enum ByteOrder { case little, big }

    /// Integers of either byte order read out of a header.
    private struct Fields {
        let bytes: [UInt8]
        let order: ByteOrder

        func unsigned(_ offset: Int, _ width: Int) -> UInt64 {
            var value: UInt64 = 0
            for i in 0..<width {
                let byte = UInt64(bytes[order == .little ? offset + width - 1 - i : offset + i])
                value = value << 8 | byte
            }
            return value
        }

        func u16(_ offset: Int) -> UInt16 { UInt16(truncatingIfNeeded: unsigned(offset, 2)) }
        func u32(_ offset: Int) -> UInt32 { UInt32(truncatingIfNeeded: unsigned(offset, 4)) }
        func u64(_ offset: Int) -> UInt64 { unsigned(offset, 8) }
    }

    /// An open file read with `pread`, bounded by its size. Its first
    /// `headSize` bytes are read at once: a small module's headers,
    /// section table and `.modinfo` all come from that one read.
    private struct ModuleFile {
        let descriptor: Int32
        let size: UInt64
        /// The first bytes of the file (all of it when small).
        private(set) var head: [UInt8] = []
        /// How much is read up front.
        static let headSize = 1 << 16

        init?(path: String) {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0 else {
                close(fd)
                return nil
            }
            descriptor = fd
            size = UInt64(st.st_size)
            head = bytes(at: 0, count: Int(min(size, UInt64(Self.headSize)))) ?? []
        }

        /// A file already read whole (no descriptor).
        init(contents: [UInt8]) {
            descriptor = -1
            size = UInt64(contents.count)
            head = contents
        }

        /// Closes the descriptor.
        func release() { if descriptor >= 0 { close(descriptor) } }

        /// `size` bytes at `offset` when they lie within the file.
        func bytes(at offset: UInt64, size count: UInt64) -> [UInt8]? {
            guard offset <= size, count <= size - offset else { return nil }
            return bytes(at: offset, count: Int(count))
        }

        /// Exactly `count` bytes at `offset`, or nil.
        func bytes(at offset: UInt64, count: Int) -> [UInt8]? {
            guard offset <= size, UInt64(count) <= size - offset else { return nil }
            if count == 0 { return [] }
            if offset + UInt64(count) <= UInt64(head.count) {
                return Array(head[Int(offset)..<(Int(offset) + count)])
            }
            var buffer = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let got = buffer.withUnsafeMutableBytes { raw in
                    pread(descriptor, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                }
                if got < 0 {
                    if errno == EINTR { continue }
                    return nil
                }
                if got == 0 { return nil }
                done += got
            }
            return buffer
        }
    }
}
