/// The signature of a shared cache entry, in `manifest.sig` next to its
/// manifest: which fleet key signed, and its Ed25519 signature over the
/// exact bytes of the manifest file.
///
/// ```
/// swift-dkms cache signature 1
/// key 5d2c8e01a7f3b4c9
/// ed25519 kC1r…==
/// ```
package struct ManifestSignature: Sendable, Hashable {
    /// The first line: the layout version.
    package static let header = "swift-dkms cache signature 1"
    /// The file's name in an entry.
    package static let fileName = "manifest.sig"

    /// The signing key's id (``FleetPublicKey/id``).
    package var keyID: String
    /// The 64 signature bytes.
    package var signature: [UInt8]

    /// Signs a manifest's bytes.
    package init(signing manifest: [UInt8], with key: FleetSigningKey) {
        keyID = key.publicKey.id
        signature = key.signature(for: manifest)
    }

    /// The file's text.
    package var text: String {
        "\(Self.header)\nkey \(keyID)\ned25519 \(Base64.encode(signature))\n"
    }

    /// Parses a signature file; nil when it is not one.
    package init?(text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count == 4, lines[0] == Self.header, lines[3].isEmpty,
              lines[1].hasPrefix("key "), lines[2].hasPrefix("ed25519 "),
              let signature = Base64.decode(String(lines[2].dropFirst(8))), signature.count == 64,
              lines[1].utf8.count == 20, lines[1].utf8.dropFirst(4).allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { return nil }
        keyID = String(lines[1].dropFirst(4))
        self.signature = signature
    }
}
