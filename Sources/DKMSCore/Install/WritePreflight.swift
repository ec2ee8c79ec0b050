#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Checks made before a transaction touches anything, so that a full or
/// read-only file system makes the command fail cleanly with the trees as
/// they were, instead of half done (docs/consistency.md, "Faults beyond
/// SIGKILL"). Upstream has no such checks: its `rm -f` and `mv -f` fail
/// one by one and it reports success. Whether a directory exists and is
/// writable is asked of the given file system (the reason shown is errno's
/// after that check, as the machine's file system leaves it); the room is
/// the machine's (`statvfs`), checked for paths that exist on it.
enum WritePreflight {
    /// The uninstall plan (`delete PATH`, `restore ARCHIVED ORIGIN`,
    /// `unlink LINK`) can be carried out whole: every directory it changes is
    /// writable, and every file system that receives a restored original
    /// from another file system has room for it (counting what the plan
    /// deletes there).
    static func uninstall(_ plan: [[String]], module: String, version: String,
                          fileSystem: any FileSystemAccess = LocalFileSystem()) throws(DKMSError) {
        var directories: [String] = []
        for step in plan {
            switch (step.first, step.count) {
            case ("delete", 2), ("unlink", 2):
                directories.append(FileSystem.split(step[1]).directory)
            case ("restore", 3):
                directories.append(Self.nearestExisting(FileSystem.split(step[2]).directory, fileSystem: fileSystem))
                directories.append(FileSystem.split(step[1]).directory)
            default:
                break
            }
        }
        for dir in Set(directories).sorted() where !fileSystem.isWritable(dir) {
            let reason = String(cString: strerror(errno))
            throw DKMSError(.patchOrInstallFailed, "Cannot uninstall \(module)/\(version): \(dir) is not writable (\(reason)).",
                            "Nothing was changed.")
        }
        // Room, step by step in plan order (a module's files are deleted
        // before its originals come back).
        var available: [UInt64: Int] = [:]
        func room(_ device: UInt64, _ dir: String) -> Int {
            if let known = available[device] { return known }
            var fs = statvfs()
            let bytes = statvfs(dir, &fs) == 0 ? Int(fs.f_bavail) * Int(fs.f_frsize) : Int.max / 2
            available[device] = bytes
            return bytes
        }
        for step in plan {
            switch (step.first, step.count) {
            case ("delete", 2):
                guard let (device, size) = Self.deviceAndSize(step[1]) else { continue }
                available[device] = room(device, FileSystem.split(step[1]).directory) + size
            case ("restore", 3):
                let target = Self.nearestExisting(FileSystem.split(step[2]).directory, fileSystem: fileSystem)
                guard let (source, size) = Self.deviceAndSize(step[1]),
                      let (device, _) = Self.deviceAndSize(target), source != device else { continue }
                let left = room(device, target) - size
                if left < 0 {
                    throw DKMSError(.patchOrInstallFailed, "Cannot uninstall \(module)/\(version): \(target) has no room to restore the original module",
                                    "\(step[1]) (\(size) bytes, \(size + left) available). Nothing was changed.")
                }
                available[device] = left
            default:
                break
            }
        }
    }

    /// The install can write where it will copy: every destination
    /// directory (or its nearest existing parent) is writable.
    static func install(destinations: [String], module: String, version: String,
                        fileSystem: any FileSystemAccess = LocalFileSystem()) throws(DKMSError) {
        for dir in Set(destinations.map { Self.nearestExisting($0, fileSystem: fileSystem) }).sorted() where !fileSystem.isWritable(dir) {
            let reason = String(cString: strerror(errno))
            throw DKMSError(.patchOrInstallFailed, "Cannot install \(module)/\(version): \(dir) is not writable (\(reason)).",
                            "Nothing was changed.")
        }
    }

    /// The file system and size of a file (nil when it does not exist).
    static func deviceAndSize(_ path: String) -> (UInt64, Int)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), Int(st.st_size))
    }

    /// `path` or its nearest ancestor that exists.
    static func nearestExisting(_ path: String, fileSystem: any FileSystemAccess = LocalFileSystem()) -> String {
        var dir = path
        while !dir.isEmpty && dir != "/" && !fileSystem.exists(dir) { dir = FileSystem.split(dir).directory }
        return dir.isEmpty ? "/" : dir
    }
}
