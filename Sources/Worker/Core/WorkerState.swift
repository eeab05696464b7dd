import Kafka
import Synchronization

/// Where a worker is in its life: started, stopping (graceful or after a fatal error).
/// Every loop reads it; `/readyz` is `isReady`.
final class WorkerState: Sendable {
    private struct State: ~Copyable {
        var running = false
        var stopping = false
        var fatal: String?
        var onStop: [@Sendable () -> Void] = []
        var onFatal: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())

    /// True once consuming, until shutdown begins.
    var isReady: Bool { state.withLock { $0.running && !$0.stopping } }
    var isStopping: Bool { state.withLock { $0.stopping } }
    /// Why the worker must exit non-zero, once a fatal error happened.
    var fatalError: String? { state.withLock { $0.fatal } }

    func markRunning() { state.withLock { $0.running = true } }
    func markStopped() { state.withLock { $0.running = false } }

    /// Runs `action` once, when stopping begins (now, if it already has).
    func onStop(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state in
            if state.stopping { return true }
            state.onStop.append(action)
            return false
        }
        if now { action() }
    }

    /// Runs `action` once, when a fatal error happens (now, if one has).
    func onFatal(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state in
            if state.fatal != nil { return true }
            state.onFatal.append(action)
            return false
        }
        if now { action() }
    }

    /// Begins stopping (idempotent): intake ends, queued work is handed back.
    func beginStopping() {
        let actions = state.withLock { state in
            guard !state.stopping else { return [@Sendable () -> Void]() }
            state.stopping = true
            defer { state.onStop = [] }
            return state.onStop
        }
        for action in actions { action() }
    }

    /// A fatal error: stop, and make the process exit non-zero. The first reason is kept.
    func fail(_ reason: String) {
        let actions = state.withLock { state in
            guard state.fatal == nil else { return [@Sendable () -> Void]() }
            state.fatal = reason
            defer { state.onFatal = [] }
            return state.onFatal
        }
        beginStopping()
        for action in actions { action() }
    }
}
