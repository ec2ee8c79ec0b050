import Crypto

/// The name under which a fleet finds a build without the kernel's
/// headers: a SHA-256 over what a cache key covers, with the kernel's
/// build identity (``KernelBuildIdentity``, read from `/boot` on a client
/// and from the headers on the exporter) in place of the headers' digests
/// and the compiler's version, and without what dkms derives from the
/// compiler the kernel names (`CC`, `KERNEL_CC`, `LD`, `KERNEL_LD` as dkms
/// chose them, and the strip tool): the identity covers that compiler, and
/// a client without one derives no choice; and without `kernel_config`,
/// which names a file of the headers (`include/config/auto.conf` when they
/// have one) whose content the identity covers.
package struct FleetLookupKey: Sendable, Hashable, CustomStringConvertible {
    /// Changes whenever what a lookup key covers changes.
    package static let formatVersion = "swift-dkms.fleet-lookup/1"

    /// Shell variables whose value depends on how the headers are laid out.
    static let headersLayoutVariables: Set<String> = ["kernel_config"]

    /// The key, written as a cache key is.
    package var key: CacheKey

    /// The lookup key of a build.
    /// - Parameters:
    ///   - material: the build's key material (its kernel part is not used).
    ///   - kernel: the kernel's build identity.
    ///   - compilerChoice: the variables dkms set from the kernel's
    ///     configuration (left out where the environment still has them).
    package init(_ material: CacheKeyMaterial, kernel: KernelBuildIdentity, compilerChoice: [String: String]) {
        let environment = material.environment.filter { compilerChoice[$0.key] != $0.value }
        var material = material
        material.shellVariables.removeAll { Self.headersLayoutVariables.contains($0.name) }
        var hasher = SHA256()
        material.feed(into: &hasher, format: Self.formatVersion, stripTool: "-", environment: environment,
                      kernel: [kernel.digest])
        // A SHA-256 in hexadecimal is always a key.
        key = CacheKey(hex: HexDigest.hex(hasher.finalize()))!
    }

    /// A lookup key from its text (records, file names).
    package init?(hex: String) {
        guard let key = CacheKey(hex: hex) else { return nil }
        self.key = key
    }

    /// 64 hexadecimal digits.
    package var hex: String { key.hex }
    /// The first twelve digits.
    package var short: String { key.short }
    package var description: String { key.hex }
}

/// A signed statement of a fleet's exporter: "the build looked up as
/// LOOKUP (this module, version and kernel identity) is entry KEY".
/// Clients that find it under `identities/LOOKUP` of a shared location,
/// signed by a trusted key, fetch the entry (checked as every shared entry)
/// and install its modules without the kernel's headers.
///
/// ```
/// swift-dkms fleet lookup 1
/// lookup 9c41…
/// target hello 1.0 6.1.0-57-amd64 x86_64
/// kernel 5e0a… #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)
/// entry 3f0c…
/// ```
package struct FleetLookupRecord: Sendable, Hashable {
    /// The first line: the layout version.
    package static let header = "swift-dkms fleet lookup 1"
    /// The most bytes a record may have.
    package static let sizeLimit = 4096

    /// The lookup key.
    package var lookup: FleetLookupKey
    /// The build.
    package var target: BuildPlan.Target
    /// ``KernelBuildIdentity/digest`` of the kernel.
    package var kernelDigest: String
    /// The kernel's banner (for messages).
    package var banner: String
    /// The cache entry that holds the build.
    package var entry: CacheKey

    /// Creates a record.
    package init(lookup: FleetLookupKey, target: BuildPlan.Target, kernel: KernelBuildIdentity, entry: CacheKey) {
        self.lookup = lookup
        self.target = target
        kernelDigest = kernel.digest
        banner = kernel.banner
        self.entry = entry
    }

    /// The record's text, the same on every machine (what is signed).
    package var text: String {
        [Self.header, "lookup \(lookup.hex)", "target \(target.module) \(target.version) \(target.kernel) \(target.arch)",
         "kernel \(kernelDigest) \(banner)", "entry \(entry.hex)"].joined(separator: "\n") + "\n"
    }

    /// Parses a record; nil when it is not one.
    package init?(text: String) {
        guard text.utf8.count <= Self.sizeLimit else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func value(_ line: String, _ name: String) -> String? {
            line.hasPrefix(name + " ") ? String(line.dropFirst(name.count + 1)) : nil
        }
        guard lines.count == 6, lines[0] == Self.header, lines[5].isEmpty,
              let lookup = value(lines[1], "lookup").flatMap(FleetLookupKey.init(hex:)),
              let words = value(lines[2], "target")?.split(separator: " ", omittingEmptySubsequences: false).map(String.init),
              words.count == 4, words.allSatisfy({ !$0.isEmpty }),
              let kernel = value(lines[3], "kernel"), let space = kernel.firstIndex(of: " "),
              CacheKey(hex: String(kernel[..<space])) != nil,
              let entry = value(lines[4], "entry").flatMap(CacheKey.init(hex:))
        else { return nil }
        self.lookup = lookup
        target = .init(module: words[0], version: words[1], kernel: words[2], arch: words[3])
        kernelDigest = String(kernel[..<space])
        banner = String(kernel[kernel.index(after: space)...])
        self.entry = entry
    }

    /// Whether it answers a lookup: the same key, build and kernel.
    package func answers(_ lookup: FleetLookupKey, target: BuildPlan.Target, kernel: KernelBuildIdentity) -> Bool {
        self.lookup == lookup && self.target == target && kernelDigest == kernel.digest
    }
}
