/// The signature the kernel's `sign-file` appends to a module, as
/// `modinfo` reports it: `signer` (the common name of the certificate's
/// issuer), `sig_key` (its serial number, colon-separated upper-case hex)
/// and `sig_hashalgo`.
///
/// Layout at the end of a signed module: the signature (`sig_len` bytes,
/// PKCS#7 DER for `id_type` 2), a 12-byte `struct module_signature`
/// (algo, hash, id_type, signer_len, key_id_len, 3 bytes padding,
/// big-endian sig_len), then the magic `~Module signature appended~\n`.
package struct ModuleSignature: Sendable, Equatable {
    /// `signer`, when the signature names one.
    package var signer: String?
    /// `sig_key`, when the signature names one.
    package var keyID: String?
    /// `sig_hashalgo`, when known.
    package var hashAlgorithm: String?

    /// Creates a signature description.
    package init(signer: String?, keyID: String?, hashAlgorithm: String?) {
        self.signer = signer
        self.keyID = keyID
        self.hashAlgorithm = hashAlgorithm
    }

    static let magic = Array("~Module signature appended~\n".utf8)

    /// Whether the module bytes end with a signature.
    package static func isSigned(_ bytes: [UInt8]) -> Bool {
        bytes.count > magic.count + 12 && Array(bytes.suffix(magic.count)) == magic
    }

    /// The signature of an (uncompressed) module's bytes, or nil when it
    /// carries none. A signature in a format other than PKCS#7 yields a
    /// value with nil fields.
    package static func parse(_ bytes: [UInt8]) -> ModuleSignature? {
        guard isSigned(bytes) else { return nil }
        let info = bytes.count - magic.count - 12
        let idType = bytes[info + 2]
        let length = bytes[(info + 8)..<(info + 12)].reduce(0) { $0 << 8 | Int($1) }
        let unknown = ModuleSignature(signer: nil, keyID: nil, hashAlgorithm: nil)
        guard idType == 2, length > 0, length <= info else { return unknown }
        return parsePKCS7(Array(bytes[(info - length)..<info])) ?? unknown
    }

    /// A DER element: tag and the range of its content.
    struct Element {
        var tag: UInt8
        var content: Range<Int>
    }

    /// The elements in `range` of `der`, in order (nil when malformed).
    static func children(_ der: [UInt8], _ range: Range<Int>) -> [Element]? {
        var result: [Element] = []
        var i = range.lowerBound
        while i < range.upperBound {
            guard i + 1 < range.upperBound else { return nil }
            let tag = der[i]
            var length = Int(der[i + 1])
            var start = i + 2
            if length & 0x80 != 0 {
                let count = length & 0x7f
                guard count > 0, count <= 4, start + count <= range.upperBound else { return nil }
                length = der[start..<(start + count)].reduce(0) { $0 << 8 | Int($1) }
                start += count
            }
            guard start + length <= range.upperBound else { return nil }
            result.append(Element(tag: tag, content: start..<(start + length)))
            i = start + length
        }
        return result
    }

    static let commonName: [UInt8] = [0x55, 0x04, 0x03]
    static let hashNames: [[UInt8]: String] = [
        [0x2b, 0x0e, 0x03, 0x02, 0x1a]: "sha1",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]: "sha256",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02]: "sha384",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03]: "sha512",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04]: "sha224",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x08]: "sha3-256",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x09]: "sha3-384",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x0a]: "sha3-512",
    ]

    /// ContentInfo { signedData, [0] SignedData { version, digestAlgorithms,
    /// encapContentInfo, [0] certificates?, [1] crls?, signerInfos } }: the
    /// first SignerInfo's issuer common name, serial and digest algorithm.
    static func parsePKCS7(_ der: [UInt8]) -> ModuleSignature? {
        guard let top = children(der, 0..<der.count), let contentInfo = top.first, contentInfo.tag == 0x30,
              let info = children(der, contentInfo.content), info.count >= 2, info[1].tag == 0xa0,
              let wrapped = children(der, info[1].content), let signedData = wrapped.first, signedData.tag == 0x30,
              let fields = children(der, signedData.content),
              let signerInfos = fields.last, signerInfos.tag == 0x31,
              let infos = children(der, signerInfos.content), let signerInfo = infos.first,
              let parts = children(der, signerInfo.content), parts.count >= 3 else { return nil }
        var signer: String?
        var keyID: String?
        if parts[1].tag == 0x30, let issuerAndSerial = children(der, parts[1].content), issuerAndSerial.count == 2 {
            for set in children(der, issuerAndSerial[0].content) ?? [] {
                for attribute in children(der, set.content) ?? [] {
                    guard let pair = children(der, attribute.content), pair.count == 2,
                          Array(der[pair[0].content]) == commonName else { continue }
                    signer = String(decoding: der[pair[1].content], as: UTF8.self)
                }
            }
            keyID = hex(Array(der[issuerAndSerial[1].content]))
        } else if parts[1].tag == 0x80 {
            keyID = hex(Array(der[parts[1].content]))
        }
        var hash: String?
        if parts[2].tag == 0x30, let algorithm = children(der, parts[2].content)?.first, algorithm.tag == 0x06 {
            hash = hashNames[Array(der[algorithm.content])]
        }
        return ModuleSignature(signer: signer, keyID: keyID, hashAlgorithm: hash)
    }

    /// Bytes as `modinfo` prints a key id: leading zero bytes dropped,
    /// upper-case hex pairs joined by colons.
    static func hex(_ bytes: [UInt8]) -> String {
        var trimmed = bytes[...]
        while trimmed.count > 1, trimmed.first == 0 { trimmed = trimmed.dropFirst() }
        let digits = Array("0123456789ABCDEF")
        return trimmed.map { String([digits[Int($0 >> 4)], digits[Int($0 & 0xf)]]) }.joined(separator: ":")
    }
}

extension ModuleInfoReader {
    /// The signature appended to the uncompressed module at `path`, as
    /// `modinfo` reports `signer`, `sig_key` and `sig_hashalgo`; nil when
    /// the file is unreadable or unsigned.
    package static func signature(path: String, fileSystem: any FileSystemAccess = LocalFileSystem()) -> ModuleSignature? {
        guard let bytes = fileSystem.readBytes(path) else { return nil }
        return ModuleSignature.parse(bytes)
    }
}
