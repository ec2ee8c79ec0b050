import DKMSCore
import Synchronization

/// A process runner for in-process tests: it records every process DKMSCore
/// asks for and answers with what the test's script says, running nothing.
package final class ScriptedProcessRunner: ProcessRunning {
    private let recorded = Mutex<[ProcessSpec]>([])
    private let answer: @Sendable (ProcessSpec) -> ProcessOutcome

    /// Creates a runner whose processes end as `answer` says (by default,
    /// successfully and silently).
    package init(answer: @escaping @Sendable (ProcessSpec) -> ProcessOutcome = { _ in ProcessOutcome(status: 0) }) {
        self.answer = answer
    }

    package func run(_ spec: ProcessSpec) async -> ProcessOutcome {
        recorded.withLock { $0.append(spec) }
        return answer(spec)
    }

    /// The processes asked for, in order.
    package var specs: [ProcessSpec] { recorded.withLock { $0 } }

    /// Each process as one line: the program and its arguments.
    package var commandLines: [String] {
        specs.map { ([$0.executable] + $0.arguments).joined(separator: " ") }
    }
}
