import Dispatch
import Synchronization

/// Guarantees that no librdkafka call outlives its handle.
///
/// Every call into librdkafka from an application thread (sync, or on the blocking queue)
/// first takes a *lease* here and returns it when librdkafka has returned. The handle is
/// destroyed only after `closeAndWaitForLeases()`, which refuses new leases and then waits
/// until the in-flight ones are back. Each leased call is bounded by its own timeout, so that
/// wait is bounded too. (The poll thread needs no lease: it is the thread that destroys.)
///
/// Three phases:
/// - `open`: every call is admitted.
/// - `closing` (`close()` has begun, the handle still lives): only calls the application
///   needs to finish its work are admitted (`Admission.untilDestroyed`: commit, store
///   offsets, committed offsets, flush); everything else throws `KafkaError.closed`.
/// - `closed`: nothing is admitted; the handle is being or has been destroyed.
final class HandleLifetime: Sendable {
    /// When a call may still run.
    enum Admission {
        /// Only before `close()` begins (lag queries, metadata, seek, pause, produce, ...).
        case whileOpen
        /// Until the handle starts being destroyed: the calls a revoke handler or a final
        /// flush needs while the client is closing.
        case untilDestroyed
    }

    enum Phase: Equatable {
        case open, closing, closed
    }

    private struct State: ~Copyable {
        var phase = Phase.open
        var leases = 0
        /// Set by the closer while it waits for `leases` to reach zero.
        var drained: DispatchSemaphore?
    }

    private let state = Mutex(State())

    var phase: Phase { state.withLock { $0.phase } }

    /// Takes a lease, or throws `KafkaError.closed` when `admission` no longer allows calls.
    func acquire(_ admission: Admission) throws(KafkaError) {
        let admitted = state.withLock { state in
            switch (state.phase, admission) {
            case (.open, _), (.closing, .untilDestroyed):
                state.leases += 1
                return true
            default:
                return false
            }
        }
        if !admitted { throw KafkaError.closed }
    }

    /// Returns a lease taken with `acquire`.
    func release() {
        let wake = state.withLock { state -> DispatchSemaphore? in
            state.leases -= 1
            return state.leases == 0 ? state.drained : nil
        }
        wake?.signal()
    }

    /// Runs `body` under a lease.
    func withLease<T>(_ admission: Admission, _ body: () throws(KafkaError) -> T) throws(KafkaError) -> T {
        try acquire(admission)
        defer { release() }
        return try body()
    }

    /// `open` → `closing`. Returns false when closing had already begun.
    @discardableResult
    func beginClosing() -> Bool {
        state.withLock { state in
            guard state.phase == .open else { return false }
            state.phase = .closing
            return true
        }
    }

    /// → `closed`, then blocks until every lease is back. Call from a thread that may block
    /// (the poll thread, or a deinit), never from Swift's cooperative pool.
    func closeAndWaitForLeases() {
        let semaphore = DispatchSemaphore(value: 0)
        let mustWait = state.withLock { state in
            state.phase = .closed
            guard state.leases > 0 else { return false }
            state.drained = semaphore
            return true
        }
        if mustWait { semaphore.wait() }
    }
}
