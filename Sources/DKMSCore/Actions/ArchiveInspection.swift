/// Decides, from tar's listing and before anything is unpacked, whether an
/// archive handed to `ldtarball` or `add` is a sane module source.
///
/// Refused: absolute names and names with a `..` component; names that
/// pass through a symlink of the archive; symlinks whose target,
/// resolved through the archive's own symlinks, is absolute or leaves the
/// archive root; hard links whose target is not an earlier regular file of
/// the archive (GNU tar strips a leading `/` or `../` from a hard-link
/// target and then fails); device nodes, FIFOs and any type but file,
/// directory, symlink and hard link; setuid and setgid bits; more than
/// ``maximumMembers`` members or ``maximumBytes`` bytes in all.
struct ArchiveInspection: Sendable {
    /// The most members an archive may hold.
    static let maximumMembers = 50_000
    /// The most bytes its members may hold together (4 GiB).
    static let maximumBytes: UInt64 = 4 << 30

    private var members = 0
    private var bytes: UInt64 = 0
    private var regularFiles: Set<String> = []
    private var symlinks: [String: String] = [:]

    /// Records one member; returns why the archive is refused, or nil.
    mutating func admit(_ member: TarListing) -> String? {
        members += 1
        if members > Self.maximumMembers {
            return "it has more than \(Self.maximumMembers) members"
        }
        bytes += member.size
        if bytes > Self.maximumBytes {
            return "its members hold more than \(Self.maximumBytes) bytes"
        }
        let quoted = "member '\(member.name)'"
        switch member.type {
        case "c", "b": return "\(quoted) is a device node"
        case "p": return "\(quoted) is a FIFO"
        case "-", "d", "l", "h": break
        default: return "\(quoted) is a special file"
        }
        guard let name = Self.normalized(member.name), !name.isEmpty || member.type == "d" else {
            return "\(quoted) lies outside the archive root"
        }
        if Self.prefixes(of: name).contains(where: { symlinks[$0] != nil }) {
            return "\(quoted) lies behind a symlink"
        }
        if member.permissions.count >= 6 {
            let characters = Array(member.permissions)
            if characters[2] == "s" || characters[2] == "S" { return "\(quoted) is setuid" }
            if characters[5] == "s" || characters[5] == "S" { return "\(quoted) is setgid" }
        }
        switch member.type {
        case "l":
            let target = member.target ?? ""
            if target.hasPrefix("/") { return "\(quoted) is a symlink to an absolute path" }
            symlinks[name] = target
            if resolve(name) == nil { return "\(quoted) is a symlink that leaves the archive root" }
        case "h":
            guard let target = member.target.flatMap(Self.normalized), regularFiles.contains(target) else {
                return "\(quoted) is a hard link to '\(member.target ?? "")', not to a file of the archive"
            }
            regularFiles.insert(name)
        case "-":
            regularFiles.insert(name)
        default:
            break
        }
        return nil
    }

    /// A member name without `./` components and trailing slashes (empty
    /// for the root itself), or nil when it is absolute or has a `..`
    /// component.
    static func normalized(_ path: String) -> String? {
        if path.hasPrefix("/") { return nil }
        var parts: [Substring] = []
        for component in path.split(separator: "/") where component != "." {
            if component == ".." { return nil }
            parts.append(component)
        }
        return parts.joined(separator: "/")
    }

    /// The proper prefixes of a normalized name (`a`, `a/b` for `a/b/c`).
    static func prefixes(of name: String) -> [String] {
        let parts = name.split(separator: "/")
        return (1..<max(parts.count, 1)).map { parts.prefix($0).joined(separator: "/") }
    }

    /// Where the symlink `name` points once every symlink of the archive
    /// on the way is followed; nil when it leaves the root, is absolute or
    /// loops.
    func resolve(_ name: String) -> String? {
        var resolved: [Substring] = []
        var pending = Array(name.split(separator: "/").reversed())
        var followed = 0
        while let component = pending.popLast() {
            if component == "." || component.isEmpty { continue }
            if component == ".." {
                if resolved.popLast() == nil { return nil }
                continue
            }
            resolved.append(component)
            if let target = symlinks[resolved.joined(separator: "/")] {
                followed += 1
                if followed > 40 || target.hasPrefix("/") { return nil }
                resolved.removeLast()
                pending.append(contentsOf: target.split(separator: "/").reversed())
            }
        }
        return resolved.joined(separator: "/")
    }
}

/// One line of `tar -tvP --quoting-style=c --numeric-owner`.
struct TarListing: Equatable, Sendable {
    /// The type letter (`-`, `d`, `l`, `h`, `c`, `b`, `p`, …).
    var type: Character
    /// The member name.
    var name: String
    /// The link target of a symlink or hard link.
    var target: String?
    /// The permission string (`rwxr-xr-x`, with `s`/`S` for setuid and setgid).
    var permissions: String = ""
    /// The size in bytes (0 when tar shows none, as for devices).
    var size: UInt64 = 0

    /// Parses a listing line; nil when it has no quoted name.
    static func parse(_ line: String) -> TarListing? {
        guard let type = line.first else { return nil }
        var strings: [String] = []
        var index = line.startIndex
        while let open = line[index...].firstIndex(of: "\"") {
            var value = ""
            var cursor = line.index(after: open)
            var closed = false
            while cursor < line.endIndex {
                let c = line[cursor]
                if c == "\\" {
                    let next = line.index(after: cursor)
                    guard next < line.endIndex else { break }
                    value.append("\\")
                    value.append(line[next])
                    cursor = line.index(after: next)
                    continue
                }
                if c == "\"" { closed = true; break }
                value.append(c)
                cursor = line.index(after: cursor)
            }
            guard closed else { break }
            strings.append(ShellText.echoEscapes(value))
            index = line.index(after: cursor)
        }
        guard let name = strings.first else { return nil }
        let fields = line[..<(line.firstIndex(of: "\"") ?? line.endIndex)].split(separator: " ")
        return TarListing(
            type: type, name: name, target: strings.count > 1 ? strings[1] : nil,
            permissions: fields.first.map { String($0.dropFirst()) } ?? "",
            size: fields.count > 2 ? UInt64(fields[2]) ?? 0 : 0)
    }

}
