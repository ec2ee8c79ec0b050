/// Where the `dh_dkms` binary under test is.
package enum DHDKMSBinary {
    /// `DH_DKMS_BINARY`, or the package's debug build.
    package static var path: String {
        DKMSBinary.path.replacingSuffix("/dkms", with: "/dh_dkms")
    }
}

extension String {
    func replacingSuffix(_ suffix: String, with replacement: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) + replacement : self
    }
}
