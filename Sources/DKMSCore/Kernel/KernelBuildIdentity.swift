import Crypto

/// Which build of a kernel a machine runs, read without its headers: the
/// release, who built it and the build banner (`UTS_VERSION`, for example
/// `#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)`), the
/// architecture, and a digest of its configuration.
///
/// A machine with only the kernel image package derives it from
/// `/boot/vmlinuz-K` (the x86 boot header's version string, else the
/// `Linux version` banner of an uncompressed image) and `/boot/config-K`;
/// a machine with the headers derives the same value from
/// `include/generated/utsrelease.h`, `utsversion.h` (or `compile.h`),
/// `compile.h` and `.config` (docs/fleet.md, "The kernel's identity").
/// The configuration digest leaves out the options a distribution sets
/// differently in the headers' copy and that change no module's code
/// (``optionsOutsideDigest``).
package struct KernelBuildIdentity: Sendable, Hashable, Codable {
    /// `uname -r`.
    package var release: String
    /// `LINUX_COMPILE_BY@LINUX_COMPILE_HOST`.
    package var builtBy: String
    /// `UTS_VERSION`: the build number, flags and version of the build.
    package var banner: String
    /// The architecture dkms builds for.
    package var arch: String
    /// ``configDigest(of:)`` of the kernel's configuration.
    package var configDigest: String

    /// Creates an identity.
    package init(release: String, builtBy: String, banner: String, arch: String, configDigest: String) {
        self.release = release
        self.builtBy = builtBy
        self.banner = banner
        self.arch = arch
        self.configDigest = configDigest
    }

    /// Changes whenever what the identity covers changes.
    package static let formatVersion = "swift-dkms.kernel-identity/1"

    /// Options left out of the configuration digest: Debian's image and
    /// headers packages disagree on them (the headers' `.config` has the
    /// build salt and the signing setup of the package build, `/boot/config-K`
    /// has not), and none of them changes how a module is compiled.
    package static let optionsOutsideDigest: Set<String> = [
        "CONFIG_BUILD_SALT", "CONFIG_MODULE_SIG_ALL", "CONFIG_MODULE_SIG_KEY", "CONFIG_SYSTEM_TRUSTED_KEYS",
        "CONFIG_SYSTEM_REVOCATION_KEYS", "CONFIG_SYSTEM_EXTRA_CERTIFICATE", "CONFIG_SYSTEM_EXTRA_CERTIFICATE_SIZE",
    ]

    /// The SHA-256 of a configuration's set options (`CONFIG_X=value`
    /// lines, comments and unset options left out), sorted, without
    /// ``optionsOutsideDigest``.
    package static func configDigest(of text: String) -> String {
        var lines: [Substring] = []
        for line in text.split(separator: "\n") where line.hasPrefix("CONFIG_") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            if optionsOutsideDigest.contains(String(line[..<equals])) { continue }
            lines.append(line)
        }
        lines.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var hasher = SHA256()
        for line in lines { hasher.updateFramed(String(line)) }
        return HexDigest.hex(hasher.finalize())
    }

    /// The digest that names this identity in lookups.
    package var digest: String {
        var hasher = SHA256()
        for field in [Self.formatVersion, release, builtBy, banner, arch, configDigest] { hasher.updateFramed(field) }
        return HexDigest.hex(hasher.finalize())
    }

    /// How messages name it: `6.1.0-57-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)`.
    package var shown: String { "\(release) \(banner)" }

    // MARK: From the kernel image

    /// The identity of an installed kernel image: `BOOT/vmlinuz-K` and
    /// `BOOT/config-K`.
    /// - Returns: the identity, or why it cannot be derived.
    package static func installed(release: String, arch: String, bootDirectory: String = "/boot",
                                  fileSystem: any FileSystemAccess = LocalFileSystem()) -> Result<Self, KernelIdentityProblem> {
        let image = "\(bootDirectory)/vmlinuz-\(release)"
        let config = "\(bootDirectory)/config-\(release)"
        guard fileSystem.isRegularFile(image), (fileSystem.size(of: image) ?? .max) <= imageReadLimit,
              let bytes = fileSystem.readBytes(image) else {
            return .failure(.init("\(image) cannot be read"))
        }
        guard let version = imageVersion(bytes) else {
            return .failure(.init("\(image) carries no version string dkms can read (not an x86 bzImage or an uncompressed image)"))
        }
        guard let banner = VersionString(version), banner.release == release else {
            return .failure(.init("\(image) says it is kernel \(version.split(separator: " ").first.map(String.init) ?? "?"), not \(release)"))
        }
        guard let text = fileSystem.readText(config) else { return .failure(.init("\(config) cannot be read")) }
        return .success(Self(release: release, builtBy: banner.builtBy, banner: banner.banner, arch: arch,
                             configDigest: configDigest(of: text)))
    }

    /// The largest image read (a Debian vmlinuz has about 8 MB).
    static let imageReadLimit = 64 << 20

    /// The version string of a kernel image: the one the x86 boot protocol
    /// points at (header `HdrS` at 0x202, `kernel_version` at 0x20e), else
    /// the text after `Linux version ` in an uncompressed image.
    package static func imageVersion(_ bytes: [UInt8]) -> String? {
        if bytes.count > 0x210, bytes[0x202..<0x206].elementsEqual(Array("HdrS".utf8)) {
            let pointer = Int(bytes[0x20e]) | Int(bytes[0x20f]) << 8
            let start = pointer + 0x200
            if pointer != 0, start < bytes.count {
                let text = bytes[start..<min(start + 512, bytes.count)].prefix { $0 != 0 }
                if let string = String(validating: Array(text), as: UTF8.self), !string.isEmpty { return string }
            }
        }
        let marker = Array("Linux version ".utf8)
        guard let found = firstIndex(of: marker, in: bytes) else { return nil }
        let start = found + marker.count
        let text = bytes[start..<min(start + 512, bytes.count)].prefix { $0 != 0 && $0 != 10 }
        return String(validating: Array(text), as: UTF8.self).map(VersionString.withoutCompiler)
    }

    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = 0
        while index <= haystack.count - needle.count {
            if haystack[index] == first && haystack[index..<index + needle.count].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    // MARK: From the headers

    /// The identity of the kernel whose headers are in `sourceDirectory`:
    /// `include/generated/utsrelease.h`, `utsversion.h` (`compile.h` on
    /// kernels before 6.0), `compile.h` and `.config`.
    /// - Returns: the identity, or why it cannot be derived.
    package static func headers(release: String, arch: String, sourceDirectory: String,
                                fileSystem: any FileSystemAccess = LocalFileSystem()) -> Result<Self, KernelIdentityProblem> {
        let generated = sourceDirectory + "/include/generated"
        let defines = ["utsrelease.h", "utsversion.h", "compile.h"].reduce(into: [String: String]()) { found, name in
            for (key, value) in cDefines(fileSystem.readText(generated + "/" + name) ?? "") where found[key] == nil { found[key] = value }
        }
        guard let uts = defines["UTS_RELEASE"], uts == release else {
            return .failure(.init("\(generated)/utsrelease.h does not name kernel \(release)"))
        }
        guard let banner = defines["UTS_VERSION"], let by = defines["LINUX_COMPILE_BY"], let host = defines["LINUX_COMPILE_HOST"] else {
            return .failure(.init("\(generated) has no UTS_VERSION, LINUX_COMPILE_BY or LINUX_COMPILE_HOST"))
        }
        guard let text = fileSystem.readText(sourceDirectory + "/.config") else {
            return .failure(.init("\(sourceDirectory)/.config cannot be read"))
        }
        return .success(Self(release: release, builtBy: "\(by)@\(host)", banner: banner, arch: arch, configDigest: configDigest(of: text)))
    }

    /// The `#define NAME "value"` lines of a C header.
    static func cDefines(_ text: String) -> [(String, String)] {
        text.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard words.count == 2, words[0] == "#define" else { return nil }
            let rest = words[1].drop { $0 == " " }
            guard let end = rest.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return nil }
            let value = rest[end...].drop { $0 == " " || $0 == "\t" }
            guard value.count >= 2, value.first == "\"", value.last == "\"" else { return nil }
            return (String(rest[..<end]), String(value.dropFirst().dropLast()))
        }
    }
}

/// Why a kernel's identity cannot be derived.
package struct KernelIdentityProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is missing or wrong.
    package var description: String
    /// Creates a problem.
    package init(_ description: String) { self.description = description }
}

/// A kernel's version string as its image carries it:
/// `RELEASE (BUILDER@HOST) BANNER`, or `RELEASE (BUILDER@HOST) (COMPILER) BANNER`
/// in `Linux version …`, which ``withoutCompiler(_:)`` reduces to the first.
struct VersionString {
    var release: String
    var builtBy: String
    var banner: String

    /// Parses `RELEASE (BUILDER@HOST) BANNER`.
    init?(_ text: String) {
        guard let open = text.range(of: " ("), let close = text.range(of: ") ", range: open.upperBound..<text.endIndex) else { return nil }
        release = String(text[..<open.lowerBound])
        builtBy = String(text[open.upperBound..<close.lowerBound])
        banner = String(text[close.upperBound...])
        guard !release.isEmpty, !builtBy.isEmpty, !banner.isEmpty, !release.contains(" ") else { return nil }
    }

    /// `RELEASE (BUILDER@HOST) (COMPILER (…) …) BANNER` without the
    /// compiler's group, whose parentheses nest.
    static func withoutCompiler(_ text: String) -> String {
        guard let first = text.range(of: ") ("), text[first.upperBound...].contains(")") else { return text }
        var depth = 1
        var index = first.upperBound
        while index < text.endIndex {
            if text[index] == "(" { depth += 1 }
            if text[index] == ")" {
                depth -= 1
                if depth == 0 { break }
            }
            index = text.index(after: index)
        }
        guard index < text.endIndex else { return text }
        let rest = text[text.index(after: index)...].drop { $0 == " " }
        return String(text[..<first.lowerBound]) + ") " + rest
    }
}
