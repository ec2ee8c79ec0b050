extension Engine {
    /// Upstream's `do_depmod`: regenerates module dependencies for a
    /// kernel whose image is installed, and cleans up after the last
    /// module of a removed kernel. Its messages go where `output` says.
    /// - Returns: always 0, as upstream's function does.
    func depmod(kernel: String, output: CommandOutput) async -> Int32 {
        if settings.noDepmod { return 0 }
        if deferredDepmod != nil && !settings.verbose {
            deferredDepmod?.insert(kernel)
            return 0
        }
        let kernelDir = "\(installTree)/\(kernel)"
        func say(_ text: String) {
            switch output.output {
            case .inherit: console.line(text)
            case .appendToFile(let path): FileSystem.writeText(text + "\n", to: path, append: true)
            case .discard, .capture: break
            }
        }
        let dependencies = kernelDir + "/modules.dep"
        guard FileSystem.isRegularFile(dependencies) else {
            say("Skipping depmod because '\(dependencies)' is missing.")
            return 0
        }
        var arguments = ["-a", kernel]
        if FileSystem.isRegularFile("/boot/System.map-\(kernel)") { arguments += ["-F", "/boot/System.map-\(kernel)"] }
        _ = await run("depmod", arguments, output: output.output, error: output.error)
        if FileSystem.isRegularFile(dependencies) && !FileSystem.isNonEmptyFile(dependencies) {
            var stale = ["alias", "dep", "devname", "softdep", "symbols", "weakdep"].map { "\(kernelDir)/modules.\($0)" }
            stale += FileSystem.globEntries(of: kernelDir)
                .filter { $0.hasPrefix("modules.") && $0.hasSuffix(".bin") }
                .map { "\(kernelDir)/\($0)" }
            for file in stale where FileSystem.existsNoFollow(file) {
                FileSystem.removeFile(file)
                say("removed '\(file)'")
            }
            FileSystem.removeDirectory(kernelDir)
            if !FileSystem.isDirectory(kernelDir) { say("removed directory \(kernelDir)") }
        }
        return 0
    }

    /// Runs depmod as upstream does after a change (`Running depmod...`),
    /// or only records that it is due when a kernel hook defers it.
    func depmodAfterChange(kernel: String, arch: String) async {
        if state.delayedDepmod {
            FileSystem.touch(tree.depmodMarker(kernel, arch))
            return
        }
        _ = await invokeCommand("do_depmod \(kernel)", description: "Running depmod", log: nil, background: true) { target in
            await depmod(kernel: kernel, output: target)
        }
    }
}
