import Crypto

/// The private half of a fleet key: an Ed25519 key that signs the
/// manifests a machine exports to a shared cache. Its file is PEM
/// PKCS#8 (`-----BEGIN PRIVATE KEY-----`), as `openssl genpkey -algorithm
/// ed25519` writes it, so openssl reads it and dkms reads openssl's.
package struct FleetSigningKey: Sendable {
    /// The DER of a PKCS#8 Ed25519 private key up to its 32 key bytes.
    static let derPrefix: [UInt8] = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
                                     0x04, 0x22, 0x04, 0x20]

    /// The 32-byte seed.
    private let seed: [UInt8]

    /// A new random key.
    package init() {
        seed = Array(Curve25519.Signing.PrivateKey().rawRepresentation)
    }

    /// The key of a PEM PKCS#8 text; nil when it holds no Ed25519 private key.
    package init?(pem: String) {
        guard let der = PEM.der(pem, label: "PRIVATE KEY"), der.count == Self.derPrefix.count + 32,
              Array(der.prefix(Self.derPrefix.count)) == Self.derPrefix
        else { return nil }
        seed = Array(der.suffix(32))
    }

    /// The key's PEM PKCS#8 text.
    package var pem: String { PEM.armor(Self.derPrefix + seed, label: "PRIVATE KEY") }

    /// The public half, which clients trust.
    package var publicKey: FleetPublicKey {
        // A 32-byte seed always makes a key, and its public key is 32 bytes.
        FleetPublicKey(raw: Array(privateKey.publicKey.rawRepresentation))!
    }

    /// The Ed25519 signature (64 bytes) of some bytes.
    package func signature(for bytes: [UInt8]) -> [UInt8] {
        // Signing with a valid key does not fail.
        (try? privateKey.signature(for: bytes)).map { Array($0) } ?? []
    }

    private var privateKey: Curve25519.Signing.PrivateKey {
        // The seed came from a key or was checked to be 32 bytes.
        try! Curve25519.Signing.PrivateKey(rawRepresentation: seed)
    }
}

/// The public half of a fleet key: what a client trusts, as a PEM SPKI
/// file (`-----BEGIN PUBLIC KEY-----`, as `openssl pkey -pubout` writes).
package struct FleetPublicKey: Sendable, Hashable {
    /// The DER of an SPKI Ed25519 public key up to its 32 key bytes.
    static let derPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]

    /// The 32 key bytes.
    package let raw: [UInt8]

    /// A key from its 32 bytes; nil for any other length.
    package init?(raw: [UInt8]) {
        guard raw.count == 32, (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil else { return nil }
        self.raw = raw
    }

    /// The key of a PEM SPKI text; nil when it holds no Ed25519 public key.
    package init?(pem: String) {
        guard let der = PEM.der(pem, label: "PUBLIC KEY"), der.count == Self.derPrefix.count + 32,
              Array(der.prefix(Self.derPrefix.count)) == Self.derPrefix
        else { return nil }
        self.init(raw: Array(der.suffix(32)))
    }

    /// The key's PEM SPKI text.
    package var pem: String { PEM.armor(Self.derPrefix + raw, label: "PUBLIC KEY") }

    /// The key's name in signatures and messages: the first 16 hexadecimal
    /// digits of the SHA-256 of its 32 bytes.
    package var id: String { String(HexDigest.sha256(raw).prefix(16)) }

    /// Whether `signature` is this key's Ed25519 signature of `bytes`.
    package func isValidSignature(_ signature: [UInt8], for bytes: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return false }
        return key.isValidSignature(signature, for: bytes)
    }
}
