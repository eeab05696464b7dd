import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM and SIGINT from the first instant of `worker` and `replay`, not only once the
/// service group runs: loading a model takes seconds, and a signal's default action in that
/// window would kill the process (exit by signal, not the clean 0 an orchestrator expects
/// from a stop during a rollout). Installed first thing; a signal that arrives before the
/// worker runs makes it stop at once, one that arrives later triggers its graceful shutdown.
final class ShutdownSignals: Sendable {
    private struct State: ~Copyable {
        var requested = false
        var handler: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())
    private let sources: [UncheckedSource]

    /// Takes over SIGTERM and SIGINT for the rest of the process.
    init() {
        var sources: [UncheckedSource] = []
        let queue = DispatchQueue(label: "duoguard.signals")
        for signal in [SIGTERM, SIGINT] {
            Glibc.signal(signal, SIG_IGN)  // the dispatch source sees it; the default action must not
            let source = DispatchSource.makeSignalSource(signal: signal, queue: queue)
            sources.append(UncheckedSource(source))
        }
        self.sources = sources
        for source in sources {
            source.value.setEventHandler { [self] in fire() }
            source.value.resume()
        }
    }

    /// Whether a signal came already.
    var isRequested: Bool { state.withLock { $0.requested } }

    /// Calls `handler` on the next signal, or at once when one came already.
    func onSignal(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { state in
            state.handler = handler
            return state.requested
        }
        if now { handler() }
    }

    private func fire() {
        let handler = state.withLock { state in
            state.requested = true
            return state.handler
        }
        handler?()
    }

    /// A dispatch source is thread-safe; it is not declared `Sendable`.
    private struct UncheckedSource: @unchecked Sendable {
        let value: any DispatchSourceSignal
        init(_ value: any DispatchSourceSignal) { self.value = value }
    }
}
