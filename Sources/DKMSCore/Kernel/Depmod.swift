/// Upstream's `do_depmod` for one kernel: regenerates the module
/// dependencies of a kernel whose modules are installed (its
/// `modules.dep` exists), and after the last module of a removed kernel
/// went, removes the empty indexes depmod wrote and the kernel's module
/// directory. Whether depmod runs now at all (`--no-depmod`, deferred to
/// the end of the command) is the engine's decision.
package struct Depmod: Sendable {
    /// The kernels' module trees (`/lib/modules`).
    var installTree: String
    /// Runs depmod.
    var runner: any ProcessRunning
    /// The environment of children.
    var environment: [String: String]
    /// Where the module trees and `/boot` are read and cleaned.
    var fileSystem: any FileSystemAccess

    /// depmod over `installTree`, run by `runner` with `environment`.
    package init(installTree: String, runner: any ProcessRunning, environment: [String: String],
                 fileSystem: any FileSystemAccess = LocalFileSystem()) {
        self.installTree = installTree
        self.runner = runner
        self.environment = environment
        self.fileSystem = fileSystem
    }

    /// Runs depmod for `kernel`; its messages and output go where
    /// `output` says (messages to `console` when inherited).
    package func run(kernel: String, output: CommandOutput, console: any Console) async {
        let kernelDir = "\(installTree)/\(kernel)"
        func say(_ text: String) {
            switch output.output {
            case .inherit: console.line(text)
            case .appendToFile(let path): fileSystem.writeText(text + "\n", to: path, append: true)
            case .discard, .capture: break
            }
        }
        let dependencies = kernelDir + "/modules.dep"
        guard fileSystem.isRegularFile(dependencies) else {
            say("Skipping depmod because '\(dependencies)' is missing.")
            return
        }
        var arguments = ["-a", kernel]
        if fileSystem.isRegularFile("/boot/System.map-\(kernel)") { arguments += ["-F", "/boot/System.map-\(kernel)"] }
        _ = await runner.run(ProcessSpec("depmod", arguments, environment: environment, output: output.output, error: output.error))
        if fileSystem.isRegularFile(dependencies) && (fileSystem.size(of: dependencies) ?? 0) == 0 {
            var stale = ["alias", "dep", "devname", "softdep", "symbols", "weakdep"].map { "\(kernelDir)/modules.\($0)" }
            stale += fileSystem.globEntries(of: kernelDir)
                .filter { $0.hasPrefix("modules.") && $0.hasSuffix(".bin") }
                .map { "\(kernelDir)/\($0)" }
            for file in stale where fileSystem.existsNoFollow(file) {
                fileSystem.removeFile(file)
                say("removed '\(file)'")
            }
            fileSystem.removeDirectory(kernelDir)
            if !fileSystem.isDirectory(kernelDir) { say("removed directory \(kernelDir)") }
        }
    }
}
