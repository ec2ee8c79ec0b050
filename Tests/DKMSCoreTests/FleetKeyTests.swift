import DKMSTestSupport
import Testing
@testable import DKMSCore

/// Fleet keys: base64 and PEM as openssl writes them, Ed25519 signatures
/// over manifest bytes, and which signatures a client trusts.
@Suite("Fleet keys")
struct FleetKeyTests {
    /// RFC 8032, test 1: a secret key, its public key and the signature of the empty message.
    static let rfcSeed = bytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    static let rfcPublic = bytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    static let rfcSignature = bytes("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    let manifest = Array("swift-dkms cache entry 1\nkey \(String(repeating: "a", count: 64))\n".utf8)

    @Test("base64 matches RFC 4648 and rejects what is not base64")
    func base64() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
        let all = (0...255).map { UInt8($0) }
        #expect(Base64.decode(Base64.encode(all)) == all)
        #expect(Base64.decode("Zm9v\nYmFy\n") == Array("foobar".utf8))
        for bad in ["Zm9", "Zm=v", "Z===", "Zm9v!", "Zg=", "Zg==="] { #expect(Base64.decode(bad) == nil, "\(bad)") }
    }

    @Test("an openssl-form private key gives the RFC 8032 public key and round-trips through PEM")
    func privateKeyPEM() throws {
        let pem = PEM.armor(FleetSigningKey.derPrefix + Self.rfcSeed, label: "PRIVATE KEY")
        #expect(pem == "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n")
        let key = try #require(FleetSigningKey(pem: pem))
        #expect(key.publicKey.raw == Self.rfcPublic)
        #expect(key.pem == pem)
        let fresh = FleetSigningKey()
        #expect(FleetSigningKey(pem: fresh.pem)?.publicKey == fresh.publicKey)
        #expect(FleetSigningKey(pem: fresh.publicKey.pem) == nil)
        #expect(FleetSigningKey(pem: "-----BEGIN PRIVATE KEY-----\nMC4CAQA=\n-----END PRIVATE KEY-----\n") == nil)
    }

    @Test("a public key round-trips through PEM SPKI and is named by its digest")
    func publicKeyPEM() throws {
        let key = try #require(FleetPublicKey(raw: Self.rfcPublic))
        #expect(key.pem.hasPrefix("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"))
        #expect(FleetPublicKey(pem: "comment\n" + key.pem + "trailing\n") == key)
        #expect(key.id == String(HexDigest.sha256(Self.rfcPublic).prefix(16)))
        #expect(FleetPublicKey(raw: Array(Self.rfcPublic.dropLast())) == nil)
    }

    @Test("signatures verify with the signer's key only, over the exact bytes")
    func signAndVerify() throws {
        let rfcKey = try #require(FleetPublicKey(raw: Self.rfcPublic))
        #expect(rfcKey.isValidSignature(Self.rfcSignature, for: []))
        let key = FleetSigningKey()
        let signature = ManifestSignature(signing: manifest, with: key)
        #expect(signature.keyID == key.publicKey.id)
        #expect(ManifestSignature(text: signature.text) == signature)
        #expect(key.publicKey.isValidSignature(signature.signature, for: manifest))
        #expect(!key.publicKey.isValidSignature(signature.signature, for: manifest + [10]))
        #expect(!FleetSigningKey().publicKey.isValidSignature(signature.signature, for: manifest))
    }

    @Test("trusted keys accept a trusted signature and refuse the rest, saying why")
    func trust() throws {
        let key = FleetSigningKey()
        let other = FleetSigningKey()
        let trusted = TrustedKeys([key.publicKey])
        let good = ManifestSignature(signing: manifest, with: key).text
        #expect(throws: Never.self) { try trusted.check(manifest: manifest, signature: good).get() }
        func reason(_ bytes: [UInt8], _ signature: String?) -> String {
            if case .failure(let refusal) = trusted.check(manifest: bytes, signature: signature) { return refusal.reason }
            return "accepted"
        }
        #expect(reason(manifest, nil).contains("not signed"))
        #expect(reason(manifest, "swift-dkms cache signature 1\nkey x\ned25519 AA==\n").contains("malformed"))
        #expect(reason(manifest, ManifestSignature(signing: manifest, with: other).text).contains("\(other.publicKey.id), which is not trusted"))
        var edited = manifest
        edited[edited.count - 2] ^= 1
        #expect(reason(edited, good).contains("does not match the signature"))
        // A signature by the trusted key over other bytes, with the trusted key's id.
        #expect(reason(manifest, ManifestSignature(signing: edited, with: key).text).contains("does not match the signature"))
    }

    @Test("the keys of a directory are its *.pub files that hold keys")
    func directory() throws {
        let dir = TemporaryDirectory(prefix: "fleet-keys")
        let key = FleetSigningKey()
        #expect(FileSystem.writeText(key.publicKey.pem, to: dir.path + "/a.pub"))
        #expect(FileSystem.writeText(FleetSigningKey().publicKey.pem, to: dir.path + "/b.notpub"))
        #expect(FileSystem.writeText("junk\n", to: dir.path + "/c.pub"))
        let trusted = TrustedKeys(directory: dir.path)
        #expect(Array(trusted.keys.keys) == [key.publicKey.id])
        #expect(trusted.unreadable == [dir.path + "/c.pub"])
    }
}

