import Synchronization

/// How a client's `close()` and its poll thread agree on shutdown: `close()` asks the thread
/// to stop and waits; the thread sees the request, tears the client down, and then reports
/// that it is closed, which releases every waiting `close()` (calling it twice is harmless).
final class PollThreadShutdown: Sendable {
    private struct State: ~Copyable {
        var stopRequested = false
        var closed = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Polled by the thread's loop.
    var isStopRequested: Bool { state.withLock { $0.stopRequested } }

    /// Asks the poll thread to stop and waits until it has closed the client.
    func requestStopAndWait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state in
                if state.closed { return true }
                state.stopRequested = true
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Called by the poll thread last, once the client is gone.
    func markClosed() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
