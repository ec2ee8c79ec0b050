extension Engine {
    /// Upstream's `do_depmod` (``Depmod``), unless `--no-depmod` or the
    /// command defers it to its end. Its messages go where `output` says.
    /// - Returns: always 0, as upstream's function does.
    func depmod(kernel: String, output: CommandOutput) async -> Int32 {
        if settings.noDepmod { return 0 }
        guard transaction.depmod.runsNow(for: kernel) else { return 0 }
        await Depmod(installTree: installTree, runner: runner, environment: childEnvironment, fileSystem: fileSystem)
            .run(kernel: kernel, output: output, console: console)
        return 0
    }

    /// Runs depmod as upstream does after a change (`Running depmod...`),
    /// or only records that it is due when a kernel hook defers it.
    func depmodAfterChange(kernel: String, arch: String) async {
        if transaction.depmod.timing == .byMarker {
            fileSystem.touch(tree.depmodMarker(kernel, arch))
            return
        }
        _ = await invokeCommand("do_depmod \(kernel)", description: "Running depmod", log: nil, background: true) { target in
            await depmod(kernel: kernel, output: target)
        }
    }
}
