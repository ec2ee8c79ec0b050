/// The sandbox every step of a build (patches, PRE_BUILD, make,
/// POST_BUILD) runs in, made with bubblewrap.
///
/// In it the whole system is read-only; the only writable place is the
/// build's own directory, bound at the canonical `$dkms_tree/m/v/build` so
/// that dkms.conf files that hard-code that path keep working while the same
/// module builds for several kernels at once. `/tmp` and `/root` are private
/// and empty, the signing keys are hidden, there is no network, and the
/// build runs as `nobody` in a user namespace of its own without any
/// capability (what it writes belongs to root outside, as upstream's
/// builds do). A process the build leaves running dies with its PID
/// namespace when the step ends. Signing, installing and depmod stay outside.
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
    /// Directories replaced by an empty one.
    package var hiddenDirectories: [String]
    /// The build runs as `nobody` in its own user namespace.
    package var unprivileged: Bool

    /// Creates a sandbox description.
    package init(bwrap: String, readOnlyDirectories: [String] = [], sharedDirectories: [String] = [],
                hiddenFiles: [String] = [], hiddenDirectories: [String] = ["/root"], unprivileged: Bool = true) {
        self.bwrap = bwrap
        self.readOnlyDirectories = readOnlyDirectories
        self.sharedDirectories = sharedDirectories
        self.hiddenFiles = hiddenFiles
        self.hiddenDirectories = hiddenDirectories
        self.unprivileged = unprivileged
    }

    /// bubblewrap's arguments for one step whose build directory
    /// `buildDirectory` is backed by `backing`, up to and including `--`.
    package func arguments(buildDirectory: String, backing: String, workingDirectory: String?) -> [String] {
        var arguments = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp"]
        for directory in hiddenDirectories where FileSystem.isDirectory(directory) {
            arguments += ["--tmpfs", directory]
        }
        for directory in Self.outermost(readOnlyDirectories.filter(Self.isUnderPrivateDirectory)) {
            arguments += ["--ro-bind", directory, directory]
        }
        for file in hiddenFiles where FileSystem.exists(file) {
            arguments += ["--ro-bind", "/dev/null", file]
        }
        arguments += ["--bind", backing, buildDirectory]
        for directory in sharedDirectories where FileSystem.isDirectory(directory) {
            arguments += ["--bind", directory, directory]
        }
        // The step's command is the PID namespace's first process: when it
        // ends, the kernel ends whatever the build left running. No
        // --die-with-parent or --new-session: the sandbox stays in dkms'
        // process group, so whatever ends dkms' group ends the build too.
        arguments += ["--unshare-net", "--unshare-pid", "--as-pid-1", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if unprivileged { arguments += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL"] }
        arguments += ["--chdir", workingDirectory ?? buildDirectory, "--"]
        return arguments
    }

    /// `spec` run inside the sandbox.
    package func wrap(_ spec: ProcessSpec, buildDirectory: String, backing: String) -> ProcessSpec {
        var wrapped = spec
        wrapped.executable = bwrap
        wrapped.arguments = arguments(buildDirectory: buildDirectory, backing: backing,
                                      workingDirectory: spec.workingDirectory)
            + [Self.resolve(spec.executable, path: spec.environment["PATH"])] + spec.arguments
        wrapped.workingDirectory = nil
        return wrapped
    }

    /// The directories that exist, resolved, without those inside another.
    static func outermost(_ directories: [String]) -> [String] {
        let resolved = Set(directories.compactMap { FileSystem.isDirectory($0) ? FileSystem.canonicalPath($0) : nil })
        return resolved.sorted().filter { path in
            !resolved.contains { $0 != path && path.hasPrefix($0 + "/") }
        }
    }

    /// Whether `path` lies under a directory the sandbox replaces.
    static func isUnderPrivateDirectory(_ path: String) -> Bool {
        ["/tmp", "/var/tmp", "/root"].contains { path == $0 || path.hasPrefix($0 + "/") }
    }

    private static func resolve(_ program: String, path: String?) -> String {
        program.contains("/") ? program : (SubprocessRunner.lookUp(program, in: path) ?? program)
    }

    /// bubblewrap on `PATH`, if it is installed and can make a sandbox
    /// here, and whether it can make one with a user namespace.
    package static func find(path: String?, runner: any ProcessRunning) async -> (bwrap: String, unprivileged: Bool)? {
        guard let bwrap = SubprocessRunner.lookUp("bwrap", in: path) else { return nil }
        func works(_ extra: [String]) async -> Bool {
            await runner.run(ProcessSpec(
                bwrap, ["--ro-bind", "/", "/", "--unshare-net", "--unshare-pid"] + extra + ["--", "/bin/true"],
                environment: ["PATH": path ?? "/usr/bin:/bin"], output: .discard, error: .discard)).status == 0
        }
        if await works(["--unshare-user", "--uid", "65534", "--gid", "65534"]) { return (bwrap, true) }
        if await works([]) { return (bwrap, false) }
        return nil
    }
}
