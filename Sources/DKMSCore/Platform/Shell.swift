/// The shell dkms evaluates configuration and commands with.
package enum Shell {
    /// `/bin/bash` when present (no `PATH` search per call), else `bash`.
    package static let bash: String = FileSystem.isExecutable("/bin/bash") ? "/bin/bash" : "bash"
}
