/// The sandbox every step of a build (patches, PRE_BUILD, make,
/// POST_BUILD) runs in, made with bubblewrap.
///
/// In it the whole system is read-only; the only writable place is the
/// build's own directory, bound at the canonical `$dkms_tree/m/v/build` so
/// that dkms.conf files that hard-code that path keep working while the same
/// module builds for several kernels at once. `/tmp` and `/root` are private
/// and empty, `/run` (the host's sockets: D-Bus, journald, nscd,
/// systemd-resolved; `/var/run` leads there) is empty, `/dev` is
/// bubblewrap's own (an empty `/dev/shm`), the signing keys are hidden, there
/// is no network. When dkms
/// runs as root the build runs as ``BuildIdentity`` (the `dkms-build`
/// user, or `nobody`), switched to by setpriv inside the sandbox with no
/// capability, no supplementary group and `no_new_privs`: a user that owns
/// no file on the host, so the build cannot read root's private files nor
/// write anything but its directory. The build has a session of its own
/// without a terminal and `/dev/null` as input. A root-owned watcher
/// (``SandboxWatcher``) kills the step when dkms dies or a limit is met.
/// A process the build leaves running dies with its PID namespace when the
/// step ends. Signing, installing and depmod stay outside.
package struct BuildSandbox: Sendable, Hashable {
    /// The bubblewrap program.
    package var bwrap: String
    /// Directories visible read-only again on top of the private `/tmp`
    /// (trees that live under `/tmp`, such as private test trees).
    package var readOnlyDirectories: [String]
    /// Directories shared writable (the jobserver's pipe).
    package var sharedDirectories: [String]
    /// Files replaced by an empty one (private keys).
    package var hiddenFiles: [String]
    /// Directories replaced by an empty one, root's and not writable by
    /// the build user. `/run` holds the host's Unix sockets, which a
    /// read-only mount does not stop anyone from connecting to.
    package var hiddenDirectories: [String]
    /// Without an identity (dkms is not root): the build runs as
    /// `nobody` in a user namespace of its own.
    package var unprivileged: Bool
    /// The user the build runs as (when dkms is root).
    package var identity: BuildIdentity?
    /// setpriv, which switches to ``identity``.
    package var setpriv = "/usr/bin/setpriv"
    /// bash, which runs the watcher.
    package var bash = Shell.bash
    /// systemd-run, when systemd is PID 1: each step gets a transient
    /// scope with cgroup limits.
    package var systemdRun: String?
    /// The limits.
    package var limits = BuildLimits()

    /// Creates a sandbox description.
    package init(bwrap: String, readOnlyDirectories: [String] = [], sharedDirectories: [String] = [],
                hiddenFiles: [String] = [], hiddenDirectories: [String] = ["/root", "/run", "/var/run"], unprivileged: Bool = true) {
        self.bwrap = bwrap
        self.readOnlyDirectories = readOnlyDirectories
        self.sharedDirectories = sharedDirectories
        self.hiddenFiles = hiddenFiles
        self.hiddenDirectories = hiddenDirectories
        self.unprivileged = unprivileged
    }

    /// bubblewrap's arguments for one step whose build directory
    /// `buildDirectory` is backed by `backing`, up to and including `--`.
    /// - Parameter fileSystem: where the directories and files it binds or hides are looked up.
    package func arguments(buildDirectory: String, backing: String, workingDirectory: String?,
                           fileSystem: any FileSystemAccess = LocalFileSystem()) -> [String] {
        var arguments = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        // The private /tmp and /var/tmp are memory: the monitor counts
        // what they hold with the processes' memory, and the kernel stops
        // each at twice the limit, as the other backstops.
        for directory in ["/tmp", "/var/tmp"] {
            arguments += ["--perms", "1777"] + (limits.maxMemory > 0 ? ["--size", String(2 * limits.maxMemory)] : []) + ["--tmpfs", directory]
        }
        // Once per directory: `/var/run` is a link to `/run` on Debian
        // (then it leads to the empty one), a directory of its own elsewhere.
        var hidden: Set<String> = []
        for directory in hiddenDirectories where fileSystem.isDirectory(directory) {
            guard hidden.insert(fileSystem.canonicalPath(directory) ?? directory).inserted else { continue }
            arguments += ["--tmpfs", directory]
        }
        var made: Set<String> = []
        for directory in Self.outermost(readOnlyDirectories.filter(Self.isUnderPrivateDirectory), fileSystem: fileSystem) {
            // bubblewrap would make the directories leading to the mount
            // point on the private /tmp root's only (0700): they get the
            // host's modes, so that the build user can reach the tree.
            for ancestor in Self.ancestors(of: directory) where Self.isUnderPrivateDirectory(ancestor) && !made.contains(ancestor) {
                made.insert(ancestor)
                let mode = (fileSystem.mode(of: ancestor) ?? 0o755) & 0o777
                arguments += ["--perms", String(mode, radix: 8), "--dir", ancestor]
            }
            arguments += ["--ro-bind", directory, directory]
        }
        for file in hiddenFiles where fileSystem.exists(file) {
            arguments += ["--ro-bind", "/dev/null", file]
        }
        arguments += ["--bind", backing, buildDirectory]
        for directory in sharedDirectories where fileSystem.isDirectory(directory) {
            for ancestor in Self.ancestors(of: directory) where Self.isUnderPrivateDirectory(ancestor) && !made.contains(ancestor) {
                made.insert(ancestor)
                let mode = (fileSystem.mode(of: ancestor) ?? 0o755) & 0o777
                arguments += ["--perms", String(mode, radix: 8), "--dir", ancestor]
            }
            arguments += ["--bind", directory, directory]
        }
        // bubblewrap's own first process of the PID namespace runs the
        // step: when the step ends it ends, and the kernel ends whatever the
        // build left running; --die-with-parent ends it with bubblewrap,
        // which the watcher kills when dkms dies or a limit is met. A
        // session of its own: no controlling terminal.
        arguments += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                      "--new-session", "--die-with-parent", "--info-fd", "4"]
        if identity == nil && unprivileged {
            arguments += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL"]
        }
        arguments += ["--chdir", workingDirectory ?? buildDirectory, "--"]
        return arguments
    }

    /// `spec` run inside the sandbox, under its watcher: the spec's input
    /// must be the step's ``Lifeline`` and `infoFile` a file only dkms
    /// writes, where bubblewrap reports its first process.
    package func wrap(_ spec: ProcessSpec, buildDirectory: String, backing: String, infoFile: String,
                      fileSystem: any FileSystemAccess = LocalFileSystem()) -> ProcessSpec {
        var wrapped = spec
        var command = [bwrap] + arguments(buildDirectory: buildDirectory, backing: backing, workingDirectory: spec.workingDirectory,
                                          fileSystem: fileSystem)
        if let identity { command += [setpriv] + identity.setprivArguments() }
        command += [Self.resolve(spec.executable, path: spec.environment["PATH"])] + spec.arguments
        var line = SandboxWatcher.commandLine(bash: bash, infoFile: infoFile, limits: limits, command: command)
        if let systemdRun { line = [systemdRun] + SandboxWatcher.scopeArguments(limits: limits) + line }
        wrapped.executable = line[0]
        wrapped.arguments = Array(line.dropFirst())
        wrapped.workingDirectory = nil
        return wrapped
    }

    /// The directories that exist, resolved, without those inside another.
    static func outermost(_ directories: [String], fileSystem: any FileSystemAccess = LocalFileSystem()) -> [String] {
        let resolved = Set(directories.compactMap { fileSystem.isDirectory($0) ? fileSystem.canonicalPath($0) : nil })
        return resolved.sorted().filter { path in
            !resolved.contains { $0 != path && path.hasPrefix($0 + "/") }
        }
    }

    /// The directories above `path` below the top one (`/a/b/c`: `/a/b`).
    static func ancestors(of path: String) -> [String] {
        let parts = path.split(separator: "/")
        guard parts.count > 2 else { return [] }
        return (2..<parts.count).map { "/" + parts[0..<$0].joined(separator: "/") }
    }

    /// Whether `path` lies under a directory the sandbox replaces.
    static func isUnderPrivateDirectory(_ path: String) -> Bool {
        ["/tmp", "/var/tmp", "/root", "/run", "/var/run"].contains { path == $0 || path.hasPrefix($0 + "/") }
    }

    private static func resolve(_ program: String, path: String?) -> String {
        program.contains("/") ? program : (SubprocessRunner.lookUp(program, in: path) ?? program)
    }

    /// bubblewrap on `PATH`, if it is installed and can make a sandbox
    /// here, and how: as root, with `identity` switched to by setpriv
    /// (no user namespace needed); otherwise with a user namespace when
    /// there is one.
    package static func find(path: String?, identity: BuildIdentity?, runner: any ProcessRunning) async
        -> (bwrap: String, unprivileged: Bool, identity: BuildIdentity?)?
    {
        guard let bwrap = SubprocessRunner.lookUp("bwrap", in: path) else { return nil }
        func works(_ extra: [String], command: [String] = ["/bin/true"]) async -> Bool {
            await runner.run(ProcessSpec(
                bwrap, ["--ro-bind", "/", "/", "--unshare-net", "--unshare-pid"] + extra + ["--"] + command,
                environment: ["PATH": path ?? "/usr/bin:/bin"], output: .discard, error: .discard)).status == 0
        }
        if let identity, let setpriv = SubprocessRunner.lookUp("setpriv", in: path ?? "/usr/bin:/bin") ?? SubprocessRunner.lookUp("setpriv", in: "/usr/bin:/bin"),
           await works([], command: [setpriv] + identity.setprivArguments() + ["/bin/true"]) {
            return (bwrap, false, identity)
        }
        if await works(["--unshare-user", "--uid", "65534", "--gid", "65534"]) { return (bwrap, true, nil) }
        if await works([]) { return (bwrap, false, nil) }
        return nil
    }
}
