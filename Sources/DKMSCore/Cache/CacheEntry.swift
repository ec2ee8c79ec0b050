/// A cache entry whose files have been checked against its manifest.
package struct CacheEntry: Sendable {
    /// The entry's directory.
    package var directory: String
    /// Its manifest.
    package var manifest: CacheManifest

    /// The path of one of its files.
    package func path(_ name: String) -> String { directory + "/" + name }

    /// Reads and checks the entry in `directory`: the manifest parses and
    /// names `key`, every file has the size and SHA-256 it lists, and the
    /// modules a build must collect are there.
    /// - Parameters:
    ///   - key: the key looked up.
    ///   - modules: the `DEST_MODULE_NAME`s the build collects.
    ///   - fileSystem: where the entry is read.
    /// - Returns: the entry, or why it cannot be used.
    package static func verify(directory: String, key: CacheKey, modules: [String],
                               fileSystem: any FileSystemAccess = LocalFileSystem()) -> Result<CacheEntry, CacheRefusal> {
        guard let text = fileSystem.readText(directory + "/manifest") else { return .failure(.init("it has no readable manifest")) }
        guard let manifest = CacheManifest(text: text) else { return .failure(.init("its manifest is malformed")) }
        return verify(manifest, in: directory, key: key, modules: modules, fileSystem: fileSystem)
    }

    /// Checks the files of an entry against a manifest already read (and,
    /// for shared entries, already found signed).
    package static func verify(_ manifest: CacheManifest, in directory: String, key: CacheKey, modules: [String],
                               fileSystem: any FileSystemAccess = LocalFileSystem()) -> Result<CacheEntry, CacheRefusal> {
        guard manifest.key == key else { return .failure(.init("its manifest is for another build (\(manifest.key.short))")) }
        for module in modules where manifest.file(CacheManifest.moduleFile(module)) == nil {
            return .failure(.init("it lacks module \(module)"))
        }
        let digest = TreeDigest(fileSystem: fileSystem)
        for file in manifest.files {
            let path = directory + "/" + file.name
            guard fileSystem.isRegularFile(path), !fileSystem.isSymlink(path) else { return .failure(.init("\(file.name) is missing")) }
            guard fileSystem.size(of: path) == file.size else { return .failure(.init("\(file.name) is truncated or has grown")) }
            guard digest.fileDigest(path) == file.digest else { return .failure(.init("\(file.name) does not match its digest")) }
        }
        return .success(CacheEntry(directory: directory, manifest: manifest))
    }
}

/// Why a cache entry was not used. Any doubt is a miss, never an error.
package struct CacheRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// The reason, as the warning says it.
    package var reason: String

    /// Creates a refusal.
    package init(_ reason: String) { self.reason = reason }

    package var description: String { reason }
}
