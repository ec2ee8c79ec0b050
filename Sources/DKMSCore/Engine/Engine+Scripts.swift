extension Engine {
    /// Upstream's `run_build_script`: runs a dkms.conf script (or its
    /// override in /etc/dkms/MODULE/) from the source or build directory.
    /// With a log the run is framed into it and a failure ends dkms with
    /// the script's own status; without one the script writes to the
    /// terminal and its status is returned.
    /// - Returns: the script's status (0 when there is no script or it is not executable).
    @discardableResult
    func runScript(
        _ kind: ScriptKind, _ script: String, module: String, version: String,
        kernel: String, arch: String, log: String? = nil
    ) async throws(DKMSError) -> Int32 {
        guard !script.isEmpty else { return 0 }
        var runDirectory = kind.runsInBuildDirectory ? tree.buildDirectory(module, version) : tree.sourceDirectory(module, version)
        var run = "\(runDirectory)/\(script)"
        let program = script.split(separator: " ", maxSplits: 1).first.map(String.init) ?? script
        let override = "\(etcDirectory)/\(module)"
        if fileSystem.isExecutable("\(override)/\(program)") {
            runDirectory = override
            run = "\(override)/\(script)"
        }
        let runProgram = run.split(separator: " ", maxSplits: 1).first.map(String.init) ?? run
        guard fileSystem.isExecutable(runProgram) else {
            console.line()
            console.warning("The \(kind.rawValue) script is not executable.")
            return 0
        }
        if let log {
            let command = "cd \(runDirectory)/ && \(run)"
            let status = await invokeCommand(command, description: "Running the \(kind.rawValue) script", log: log, background: true) { target in
                await evaluate(command, kernel: kernel, arch: arch, module: module, version: version,
                               output: target.output, error: target.error).status
            }
            if status != 0 {
                console.line("Consult \(log) for more information.")
                throw DKMSError.exit(status)
            }
            return 0
        }
        console.line("Running the \(kind.rawValue) script:")
        let outcome = await runner.run(ProcessSpec(
            Shell.bash, ["-c", "cd \"$1\" || exit 15; exec $2", settings.programName, runDirectory + "/", run],
            environment: childEnvironment))
        return outcome.status
    }
}
