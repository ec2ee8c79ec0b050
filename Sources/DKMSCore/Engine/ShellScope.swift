/// The variables upstream keeps in its shell while it works on one module
/// version: what a step sets and the next step sees, and what a `( … )`
/// subshell copies and throws away.
///
/// One ``Engine`` works in one scope. A subshell is another engine on a
/// copy of it (``Engine/subshell(console:_:)``), so nothing it changes
/// reaches the caller; a step whose output only is redirected, as
/// `step > /dev/null` in upstream, changes the caller's scope
/// (``Engine/redirected(to:_:)``).
struct ShellScope {
    /// `module`: the module being worked on.
    var module = ""
    /// `module_version`: its version.
    var version = ""
    /// The last successful `read_conf`: its key (upstream `last_mvka` and
    /// `last_mvka_conf`) and its result.
    var lastConf: (key: String, config: ModuleConfig)?
    /// `prepared_kernel`: the kernel/arch whose headers and signing were prepared.
    var preparedKernel = "none"
    /// `force` (install may switch it on for listed modules).
    var force = false
    /// `force_version_override`.
    var forceVersionOverride = false
    /// The exported environment of children (CC, KERNEL_CC, directives…).
    var environment: [String: String] = [:]
    /// Lazily read signing configuration (`sign_file`, keys…).
    var signing = SigningState()
    /// `module_compressed_suffix` (`.gz`, `.xz`, `.zst` or empty).
    var compressedSuffix = ""
    /// The next conf read behaves as upstream's cache hit: it prints nothing.
    var silenceNextConfRead = false
    /// `package_name` of the last conf read, which decides progress dots.
    var packageName = ""

    /// The scope a command starts in: the module, version and switches of
    /// its command line, and the environment it was started with.
    init(settings: Settings) {
        module = settings.module
        version = settings.moduleVersion
        force = settings.force
        forceVersionOverride = settings.forceVersionOverride
        environment = settings.environment
    }
}

extension ShellScope {
    /// This scope once a step that worked on a copy of it has returned
    /// `step`: the step's changes, but `local` (a variable the step
    /// declares `local`, or saves and restores as upstream does) keeps
    /// this scope's value.
    func after<Value>(_ step: ShellScope, local: WritableKeyPath<ShellScope, Value>) -> ShellScope {
        var result = step
        result[keyPath: local] = self[keyPath: local]
        return result
    }
}
