import DKMSCore
import Synchronization

/// A file system held in memory, for unit tests of the code that takes a
/// ``FileSystemAccess`` (the tree store, the journal, the failure records):
/// directories, files (bytes) and symbolic links with POSIX rules (links are
/// followed in every component but the last where `lstat` would not
/// follow, `rename` replaces, `rmdir` wants an empty directory), absolute
/// paths only. Safe to share between tasks.
package final class InMemoryFileSystem: FileSystemAccess, Sendable {
    /// One entry.
    package enum Node: Sendable, Equatable {
        /// A regular file and its bytes.
        case file([UInt8])
        /// A directory and its entries' names, in creation order.
        case directory([String])
        /// A symbolic link and its target.
        case symlink(String)
    }

    private let state = Mutex(Tree())

    /// The size of the chunks ``forEachChunk(of:_:)`` hands out: small, so
    /// that code reading in chunks meets chunk boundaries in tests.
    package let chunkSize: Int

    /// An empty file system (only `/`).
    /// - Parameter chunkSize: the size of the chunks a file is read in.
    package init(chunkSize: Int = 7) {
        self.chunkSize = max(chunkSize, 1)
    }

    /// The clock ``now()`` reads, in seconds since the epoch (starts at
    /// 1_700_000_000; tests move it).
    package var clock: Int {
        get { state.withLock { $0.clock } }
        set { state.withLock { $0.clock = newValue } }
    }

    /// Whether every change fails from now on (a read-only or full file
    /// system); reading still works.
    package var failsWrites: Bool {
        get { state.withLock { $0.failsWrites } }
        set { state.withLock { $0.failsWrites = newValue } }
    }

    /// The node at a path, links not followed (nil when missing).
    package func node(at path: String) -> Node? {
        state.withLock { tree in tree.locate(path, followLast: false).flatMap { tree.nodes[$0] } }
    }

    /// Every path, sorted (for failure messages and whole-tree assertions).
    package var allPaths: [String] {
        state.withLock { $0.nodes.keys.sorted() }
    }

    /// Writes a file, creating its parent directories (a fixture helper).
    package func create(_ text: String, at path: String) {
        create(bytes: Array(text.utf8), at: path)
    }

    /// Writes a file of bytes, creating its parent directories (a fixture helper).
    package func create(bytes: [UInt8], at path: String, mode: UInt32? = nil) {
        makeDirectories(FileSystem.split(path).directory)
        writeBytes(bytes, to: path, mode: 0o644, append: false)
        if let mode { setMode(mode, of: path) }
    }

    package func exists(_ path: String) -> Bool { lookUp(path, followLast: true) != nil }

    package func existsNoFollow(_ path: String) -> Bool { lookUp(path, followLast: false) != nil }

    package func isDirectory(_ path: String) -> Bool {
        if case .directory = lookUp(path, followLast: true) { return true }
        return false
    }

    package func isRegularFile(_ path: String) -> Bool {
        if case .file = lookUp(path, followLast: true) { return true }
        return false
    }

    package func isSymlink(_ path: String) -> Bool { readLink(path) != nil }

    package func readLink(_ path: String) -> String? {
        if case .symlink(let target) = lookUp(path, followLast: false) { return target }
        return nil
    }

    package func canonicalPath(_ path: String) -> String? {
        state.withLock { tree in
            if let resolved = tree.locate(path, followLast: true), tree.nodes[resolved] != nil { return resolved }
            let (directory, name) = FileSystem.split(path)
            guard let parent = tree.locate(directory.isEmpty ? "/" : directory, followLast: true),
                  tree.nodes[parent] != nil else { return nil }
            return Tree.join(parent, name)
        }
    }

    package func entries(of path: String) -> [String] {
        if case .directory(let names) = lookUp(path, followLast: true) { return names }
        return []
    }

    package func readText(_ path: String) -> String? {
        readBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    package func isExecutable(_ path: String) -> Bool {
        state.withLock { tree in
            guard let resolved = tree.locate(path, followLast: true), let mode = tree.mode(of: resolved) else { return false }
            return mode & 0o111 != 0
        }
    }

    package func isReadable(_ path: String) -> Bool { exists(path) }

    package func isWritable(_ path: String) -> Bool { exists(path) && !failsWrites }

    package func mode(of path: String) -> UInt32? {
        state.withLock { tree in tree.locate(path, followLast: true).flatMap { tree.mode(of: $0) } }
    }

    @discardableResult
    package func setMode(_ mode: UInt32, of path: String) -> Bool {
        state.withLock { tree in
            guard !tree.failsWrites, let resolved = tree.locate(path, followLast: true), tree.nodes[resolved] != nil else { return false }
            tree.modes[resolved] = mode & 0o7777
            return true
        }
    }

    @discardableResult
    package func writeBytes(_ bytes: [UInt8], to path: String, mode: UInt32, append: Bool) -> Bool {
        let isNew = !exists(path)
        guard write(bytes, to: path, truncating: !append) == nil else { return false }
        if isNew { setMode(mode & 0o755, of: path) }
        return true
    }

    package func createNewFile(_ bytes: [UInt8], at path: String, mode: UInt32) -> Bool {
        guard !existsNoFollow(path), write(bytes, to: path, truncating: true) == nil else { return false }
        return setMode(mode, of: path)
    }

    @discardableResult
    package func writeBytesAtomically(_ bytes: [UInt8], to destination: String, mode: UInt32) -> Bool {
        guard !failsWrites else { return false }
        if isSymlink(destination) { removeFile(destination) }
        guard write(bytes, to: destination, truncating: true) == nil else { return false }
        return setMode(mode, of: destination)
    }

    package func makeTemporaryDirectory(template: String) -> String? {
        let path = state.withLock { $0.uniqueName(template) }
        guard !exists(path), isDirectory(FileSystem.split(path).directory) else { return nil }
        return makeDirectories(path) ? path : nil
    }

    package func makeTemporaryFile(template: String) -> String? {
        let path = state.withLock { $0.uniqueName(template) }
        guard !exists(path), isDirectory(FileSystem.split(path).directory) else { return nil }
        return writeText("", to: path) ? path : nil
    }

    package func touch(_ path: String) {
        if !exists(path) { writeText("", to: path) }
        state.withLock { tree in
            guard let resolved = tree.locate(path, followLast: true) else { return }
            tree.stamps[resolved] = tree.stamps.values.max().map { $0 + 1 } ?? 1
        }
    }

    package func modificationStamp(of path: String) -> Int? {
        state.withLock { tree in tree.locate(path, followLast: false).flatMap { tree.nodes[$0] == nil ? nil : tree.stamps[$0, default: 0] } }
    }

    /// Everything here is root's.
    package func owner(of path: String) -> UInt32? { existsNoFollow(path) ? 0 : nil }

    package func fileStamp(of path: String) -> String? {
        state.withLock { tree in
            tree.locate(path, followLast: true).flatMap { node -> String? in
                guard let entry = tree.nodes[node] else { return nil }
                let size: Int
                switch entry {
                case .file(let bytes): size = bytes.count
                default: size = 0
                }
                return "memory:\(node)\u{1}\(size)\u{1}\(tree.stamps[node, default: 0])"
            }
        }
    }

    package func identity(of path: String) -> String? {
        state.withLock { tree in
            tree.locate(path, followLast: true).flatMap { tree.nodes[$0] == nil ? nil : "memory:\($0)" }
        }
    }

    package func readBytes(_ path: String) -> [UInt8]? {
        if case .file(let bytes) = lookUp(path, followLast: true) { return bytes }
        return nil
    }

    package func readBytes(_ path: String, atMost limit: Int) -> [UInt8]? {
        guard let bytes = readBytes(path), bytes.count <= limit else { return nil }
        return bytes
    }

    package func forEachChunk(of path: String, _ body: (ArraySlice<UInt8>) -> Void) -> Bool {
        guard let bytes = readBytes(path) else { return false }
        var start = 0
        while start < bytes.count {
            let end = min(start + chunkSize, bytes.count)
            body(bytes[start..<end])
            start = end
        }
        return true
    }

    package func realPath(_ path: String) -> String? {
        state.withLock { tree in
            guard let resolved = tree.locate(path, followLast: true), tree.nodes[resolved] != nil else { return nil }
            return resolved
        }
    }

    package func size(of path: String) -> Int? {
        switch lookUp(path, followLast: false) {
        case .file(let bytes): bytes.count
        case .symlink(let target): target.utf8.count
        case .directory: 0
        case nil: nil
        }
    }

    @discardableResult
    package func writeText(_ text: String, to path: String, append: Bool) -> Bool {
        write(Array(text.utf8), to: path, truncating: !append) == nil
    }

    package func appendDurably(_ text: String, to path: String) -> String? {
        write(Array(text.utf8), to: path, truncating: false)
    }

    package func writeTextDurably(_ text: String, to path: String) -> String? {
        write(Array(text.utf8), to: path, truncating: true)
    }

    package func now() -> Int { clock }

    @discardableResult
    package func copyTree(from source: String, to destination: String) -> Bool {
        switch lookUp(source, followLast: false) {
        case .directory(let names):
            guard !failsWrites else { return false }
            if !isDirectory(destination) {
                guard state.withLock({ tree in
                    tree.locate(destination, followLast: false).map { tree.add(.directory([]), at: $0) } ?? false
                }) else { return false }
            }
            for name in names {
                guard copyTree(from: source + "/" + name, to: destination + "/" + name) else { return false }
            }
        case .file(let bytes):
            guard writeBytes(bytes, to: destination, mode: 0o644, append: false) else { return false }
        case .symlink(let target):
            return symlink(target: target, at: destination)
        case nil:
            return false
        }
        if let mode = mode(of: source) { setMode(mode, of: destination) }
        return true
    }

    package func syncDirectory(_ path: String) {}

    @discardableResult
    package func makeDirectories(_ path: String) -> Bool {
        state.withLock { tree in
            var built = "/"
            for component in Tree.components(of: path) {
                guard let next = tree.locate(Tree.join(built, component), followLast: true) else { return false }
                switch tree.nodes[next] {
                case .directory: break
                case nil:
                    guard tree.add(.directory([]), at: next) else { return false }
                default: return false
                }
                built = next
            }
            return true
        }
    }

    package func removeTree(_ path: String) {
        state.withLock { tree in
            guard let resolved = tree.locate(path, followLast: false), tree.nodes[resolved] != nil else { return }
            _ = tree.remove(resolved, recursively: true)
        }
    }

    package func removeFile(_ path: String) {
        state.withLock { tree in
            guard let resolved = tree.locate(path, followLast: false) else { return }
            switch tree.nodes[resolved] {
            case .file, .symlink: _ = tree.remove(resolved, recursively: false)
            case .directory, nil: break
            }
        }
    }

    @discardableResult
    package func removeDirectory(_ path: String) -> Bool {
        state.withLock { tree in
            guard let resolved = tree.locate(path, followLast: false),
                  case .directory(let names) = tree.nodes[resolved], names.isEmpty, resolved != "/" else { return false }
            return tree.remove(resolved, recursively: false)
        }
    }

    @discardableResult
    package func rename(_ from: String, to destination: String) -> Bool {
        state.withLock { tree in
            guard let source = tree.locate(from, followLast: false), let node = tree.nodes[source],
                  let target = tree.locate(destination, followLast: false), source != "/" else { return false }
            if source == target { return true }
            if target.hasPrefix(source + "/") { return false }
            switch (node, tree.nodes[target]) {
            case (_, nil): break
            case (.directory, .directory(let names)) where names.isEmpty: break
            case (.directory, _), (_, .directory): return false
            default: break
            }
            if tree.nodes[target] != nil { _ = tree.remove(target, recursively: false) }
            return tree.move(source, to: target)
        }
    }

    @discardableResult
    package func move(_ from: String, to destination: String) -> Bool { rename(from, to: destination) }

    @discardableResult
    package func copyFileAtomically(from source: String, to destination: String) -> Bool {
        // The real copy renames a new file over the destination: a link
        // there is replaced, not followed.
        guard let bytes = readBytes(source), !failsWrites else { return false }
        if isSymlink(destination) { removeFile(destination) }
        return write(bytes, to: destination, truncating: true) == nil
    }

    @discardableResult
    package func symlink(target: String, at path: String) -> Bool {
        state.withLock { tree in
            guard let resolved = tree.locate(path, followLast: false), tree.nodes[resolved] == nil else { return false }
            return tree.add(.symlink(target), at: resolved)
        }
    }

    @discardableResult
    package func replaceSymlink(at path: String, target: String) -> Bool {
        state.withLock { tree in
            guard let resolved = tree.locate(path, followLast: false) else { return false }
            switch tree.nodes[resolved] {
            case .directory: return false
            case .file, .symlink: _ = tree.remove(resolved, recursively: false)
            case nil: break
            }
            return tree.add(.symlink(target), at: resolved)
        }
    }

    private func lookUp(_ path: String, followLast: Bool) -> Node? {
        state.withLock { tree in tree.locate(path, followLast: followLast).flatMap { tree.nodes[$0] } }
    }

    private func write(_ bytes: [UInt8], to path: String, truncating: Bool) -> String? {
        state.withLock { tree in
            guard let resolved = tree.locate(path, followLast: true) else { return "No such file or directory" }
            switch tree.nodes[resolved] {
            case .directory: return "Is a directory"
            case .file(let old):
                guard !tree.failsWrites else { return "Read-only file system" }
                tree.nodes[resolved] = .file(truncating ? bytes : old + bytes)
                return nil
            case .symlink, nil:
                return tree.add(.file(bytes), at: resolved) ? nil : (tree.failsWrites ? "Read-only file system" : "No such file or directory")
            }
        }
    }
}

extension InMemoryFileSystem {
    /// The nodes by absolute, link-free path.
    fileprivate struct Tree {
        var nodes: [String: Node] = ["/": .directory([])]
        /// Permission bits set explicitly (others: 0644 files, 0755 the rest).
        var modes: [String: UInt32] = [:]
        /// Modification stamps: a counter that grows with every touch.
        var stamps: [String: Int] = [:]
        var failsWrites = false
        var clock = 1_700_000_000
        private var counter = 0

        /// A fresh name for a template ending in X's.
        mutating func uniqueName(_ template: String) -> String {
            counter += 1
            let xs = template.reversed().prefix { $0 == "X" }.count
            let digits = String(counter)
            return String(template.dropLast(xs)) + String(repeating: "0", count: max(0, xs - digits.count)) + digits
        }

        func mode(of path: String) -> UInt32? {
            guard let node = nodes[path] else { return nil }
            if let mode = modes[path] { return mode }
            if case .file = node { return 0o644 }
            return 0o755
        }

        static func components(of path: String) -> [Substring] {
            path.split(separator: "/").filter { $0 != "." }
        }

        static func join(_ directory: String, _ name: some StringProtocol) -> String {
            directory == "/" ? "/" + name : directory + "/" + name
        }

        /// The link-free path `path` names (following links in every
        /// component, and in the last one when `followLast`); the last
        /// component need not exist. Nil when a directory on the way is
        /// missing, not a directory, or links loop.
        func locate(_ path: String, followLast: Bool, depth: Int = 0) -> String? {
            guard path.hasPrefix("/"), depth < 40 else { return nil }
            var current = "/"
            let parts = Self.components(of: path)
            for (index, part) in parts.enumerated() {
                guard case .directory = nodes[current] else { return nil }
                if part == ".." {
                    current = FileSystem.split(current).directory
                    continue
                }
                let candidate = Self.join(current, part)
                let isLast = index == parts.count - 1
                if case .symlink(let target) = nodes[candidate], !isLast || followLast {
                    let base = target.hasPrefix("/") ? target : Self.join(current, target)
                    let rest = parts[(index + 1)...].joined(separator: "/")
                    return locate(rest.isEmpty ? base : base + "/" + rest, followLast: followLast, depth: depth + 1)
                }
                current = candidate
            }
            return current
        }

        /// Adds a node under an existing directory.
        mutating func add(_ node: Node, at path: String) -> Bool {
            let (parent, name) = FileSystem.split(path)
            guard !failsWrites, nodes[path] == nil, case .directory(var names) = nodes[parent] else { return false }
            names.append(name)
            nodes[parent] = .directory(names)
            nodes[path] = node
            return true
        }

        /// Removes a node (and, when `recursively`, everything below it).
        mutating func remove(_ path: String, recursively: Bool) -> Bool {
            guard !failsWrites, path != "/" else { return false }
            let (parent, name) = FileSystem.split(path)
            if recursively {
                for key in nodes.keys where key.hasPrefix(path + "/") {
                    nodes[key] = nil
                    modes[key] = nil
                }
            }
            nodes[path] = nil
            modes[path] = nil
            if case .directory(let names) = nodes[parent] {
                nodes[parent] = .directory(names.filter { $0 != name })
            }
            return true
        }

        /// Moves a node and everything below it to a free path.
        mutating func move(_ source: String, to target: String) -> Bool {
            let parent = FileSystem.split(target).directory
            guard !failsWrites, case .directory = nodes[parent], let node = nodes[source] else { return false }
            let below = nodes.filter { $0.key.hasPrefix(source + "/") }
            let belowModes = modes.filter { $0.key == source || $0.key.hasPrefix(source + "/") }
            _ = remove(source, recursively: true)
            guard add(node, at: target) else { return false }
            for (key, value) in below { nodes[target + key.dropFirst(source.count)] = value }
            for (key, value) in belowModes { modes[target + key.dropFirst(source.count)] = value }
            return true
        }
    }
}
