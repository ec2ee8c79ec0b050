/// The fleet public keys a client trusts: every `*.pub` file of the
/// `build_cache_trusted_keys` directory. A shared entry is used only when
/// its manifest carries a valid signature by one of them.
package struct TrustedKeys: Sendable {
    /// The keys by id.
    package var keys: [String: FleetPublicKey]

    /// Some keys (for tests).
    package init(_ keys: [FleetPublicKey]) {
        self.keys = Dictionary(keys.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The keys of a directory's `*.pub` files; files that hold no key are
    /// skipped (and listed in ``unreadable``).
    package init(directory: String, fileSystem: any FileSystemAccess = LocalFileSystem()) {
        var found: [FleetPublicKey] = []
        var unreadable: [String] = []
        for name in fileSystem.entries(of: directory).sorted() where name.hasSuffix(".pub") {
            let path = directory + "/" + name
            if let text = fileSystem.readText(path), let key = FleetPublicKey(pem: text) {
                found.append(key)
            } else {
                unreadable.append(path)
            }
        }
        self.init(found)
        self.unreadable = unreadable
    }

    /// `*.pub` files that are not Ed25519 public keys.
    package var unreadable: [String] = []

    /// Checks a manifest's signature.
    /// - Parameters:
    ///   - manifest: the manifest file's bytes, as fetched.
    ///   - signature: the text of its `manifest.sig`, nil when there is none.
    ///   - document: how the refusal names what is signed (a fleet lookup
    ///     record is checked the same way).
    /// - Returns: success, or why the entry is refused.
    package func check(manifest: [UInt8], signature: String?, document: String = "manifest") -> Result<Void, CacheRefusal> {
        guard let signature else { return .failure(.init("it is not signed (no \(ManifestSignature.fileName))")) }
        guard let parsed = ManifestSignature(text: signature) else {
            return .failure(.init("its \(ManifestSignature.fileName) is malformed"))
        }
        guard let key = keys[parsed.keyID] else {
            return .failure(.init("it is signed by key \(parsed.keyID), which is not trusted"))
        }
        guard key.isValidSignature(parsed.signature, for: manifest) else {
            return .failure(.init("its \(document) does not match the signature of key \(parsed.keyID)"))
        }
        return .success(())
    }
}
