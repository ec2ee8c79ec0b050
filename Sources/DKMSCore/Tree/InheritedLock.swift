/// Whether a dkms may use the tree lock an ancestor holds instead of taking
/// it (docs/consistency.md, "Nested commands").
///
/// The holder of the tree lock puts `PID:START:NS` in
/// ``TreeLock/heldVariable`` for its children: its PID, its start time
/// (field 22 of `/proc/PID/stat`, so that a reused PID does not pass for the
/// holder) and its PID namespace (the inode `/proc/PID/ns/pid` names).
/// A dkms run by the holder itself (a PRE_BUILD or POST_INSTALL script, a
/// hook calling dkms) must not wait for that lock, or it would deadlock.
/// Every other dkms must take the lock, however the variable reached it (a
/// background `dkms autoinstall &` outliving its parent, a variable exported
/// in a shell or a systemd unit). The variable is trusted only when:
/// - the lock on this tree is held, and the lock file names the variable's
///   process;
/// - that process is alive, started when the variable says, and is an
///   ancestor of this one (the `/proc/PID/stat` parent chain).
///
/// The second condition is skipped when it cannot be decided: no `/proc`
/// (a chroot), or this process is in another PID namespace than the holder
/// (the PIDs differ there); a nested command there would otherwise wait
/// for its own parent. A bare `PID` or `PID:START` is checked with what it
/// gives.
package enum InheritedLock {
    /// How far the parent chain is followed (a loop guard).
    static let maximumDepth = 256

    /// The value the lock holder `pid` hands its children (what of it can
    /// be read: the bare PID without `/proc`).
    package static func value(for pid: Int32, fileSystem: any FileSystemAccess) -> String {
        guard let start = processStat(pid, fileSystem: fileSystem)?.start else { return String(pid) }
        guard let namespace = pidNamespace(of: pid, fileSystem: fileSystem) else { return "\(pid):\(start)" }
        return "\(pid):\(start):\(namespace)"
    }

    /// What a value names, or nil when it is not one.
    package struct Holder: Equatable, Sendable {
        /// The holder's PID.
        package var pid: Int32
        /// Its start time (clock ticks after boot), when given.
        package var start: UInt64?
        /// The inode of its PID namespace, when given.
        package var namespace: UInt64?
    }

    /// The holder a value names, or nil when it is not one.
    package static func parse(_ value: String) -> Holder? {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), let pid = Int32(parts[0]), pid > 0 else { return nil }
        var holder = Holder(pid: pid)
        if parts.count > 1 {
            guard let start = UInt64(parts[1]) else { return nil }
            holder.start = start
        }
        if parts.count > 2 {
            guard let namespace = UInt64(parts[2]) else { return nil }
            holder.namespace = namespace
        }
        return holder
    }

    /// The inode of the PID namespace of `pid` (`pid:[INODE]`), or nil.
    package static func pidNamespace(of pid: Int32, fileSystem: any FileSystemAccess) -> UInt64? {
        guard let link = fileSystem.readLink("/proc/\(pid)/ns/pid"),
              let open = link.firstIndex(of: "["), let close = link.lastIndex(of: "]"), open < close else { return nil }
        return UInt64(link[link.index(after: open)..<close])
    }

    /// The parent PID and start time `/proc/PID/stat` gives, or nil (no such
    /// process, or unreadable).
    package static func processStat(_ pid: Int32, fileSystem: any FileSystemAccess) -> (parent: Int32, start: UInt64)? {
        guard let text = fileSystem.readText("/proc/\(pid)/stat"),
              let close = text.lastIndex(of: ")") else { return nil }
        // After "PID (comm)": state (field 3), ppid (4), ..., starttime (22).
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let parent = Int32(fields[1]), let start = UInt64(fields[19]) else { return nil }
        return (parent, start)
    }

    /// Whether `ancestor` (started at `start`, when given) is `pid` or one
    /// of its ancestors.
    package static func isAncestor(_ ancestor: Int32, start: UInt64?, of pid: Int32, fileSystem: any FileSystemAccess) -> Bool {
        guard let stat = processStat(ancestor, fileSystem: fileSystem) else { return false }
        if let start, stat.start != start { return false }
        var current = pid
        for _ in 0..<maximumDepth {
            if current == ancestor { return true }
            guard current > 1, let parent = processStat(current, fileSystem: fileSystem)?.parent, parent > 0 else { return false }
            current = parent
        }
        return false
    }

    /// Whether the variable's `value` may be trusted by process `pid`, the
    /// lock being held by `lockHolder` (the PID its lock file names; nil
    /// when the lock is free or cannot be read).
    package static func trusts(_ value: String?, lockHolder: Int32?, pid: Int32, fileSystem: any FileSystemAccess) -> Bool {
        guard let value, let holder = parse(value), let lockHolder, lockHolder == holder.pid else { return false }
        // Undecidable ancestry: no /proc, or another PID namespace.
        guard processStat(pid, fileSystem: fileSystem) != nil else { return true }
        if let namespace = holder.namespace, let own = pidNamespace(of: pid, fileSystem: fileSystem), own != namespace {
            return true
        }
        return isAncestor(holder.pid, start: holder.start, of: pid, fileSystem: fileSystem)
    }
}
