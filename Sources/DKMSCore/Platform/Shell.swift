/// The shell dkms evaluates configuration and commands with.
public enum Shell {
    /// `/bin/bash` when present (no `PATH` search per call), else `bash`.
    public static let bash: String = FileSystem.isExecutable("/bin/bash") ? "/bin/bash" : "bash"
}
