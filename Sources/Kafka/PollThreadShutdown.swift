import Synchronization

/// How a client's `close()` and its poll thread agree on shutdown: `close()` asks the thread
/// to stop and waits; the thread sees the request, tears the client down, and then reports
/// that it is closed, which releases every waiting `close()` (calling it twice is harmless).
///
/// The wait has a hard upper bound: should librdkafka never return from its teardown (seen
/// with librdkafka 2.0.2 destroying a consumer after a fatal error), `close()` still returns,
/// leaving the handle to its thread; no other thread can reach the handle any more.
final class PollThreadShutdown: Sendable {
    private struct State: ~Copyable {
        var stopRequested = false
        var closed = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
        /// Waits whose limit passed before they were registered.
        var expired: Set<Int> = []
    }

    private let state = Mutex(State())

    /// Polled by the thread's loop.
    var isStopRequested: Bool { state.withLock { $0.stopRequested } }

    /// Asks the poll thread to stop and waits until it has closed the client, or until
    /// `limit` has passed. Returns true when the client closed in time.
    @discardableResult
    func requestStopAndWait(atMost limit: Duration) async -> Bool {
        let id = state.withLock { state in
            state.stopRequested = true
            defer { state.nextID += 1 }
            return state.nextID
        }
        let timer = Task { [self] in
            try? await Task.sleep(for: limit)
            guard !Task.isCancelled else { return }
            let waiter = state.withLock { state in
                guard let waiter = state.waiters.removeValue(forKey: id) else {
                    state.expired.insert(id)
                    return nil as CheckedContinuation<Bool, Never>?
                }
                return waiter
            }
            waiter?.resume(returning: false)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let immediate: Bool? = state.withLock { state in
                if state.closed { return true }
                if state.expired.remove(id) != nil { return false }
                state.waiters[id] = continuation
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// Called by the poll thread last, once the client is gone.
    func markClosed() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters = [:] }
            return state.waiters
        }
        for (_, waiter) in waiters { waiter.resume(returning: true) }
    }
}
