import Synchronization

/// Deliveries waiting for their next attempt, by the assignment of the request they answer,
/// so that a revoke, a loss or a stop can cancel them (issue 21 item 1): a retry must not
/// outlive its assignment holding the request's bytes, and its request is handed back
/// (the partition's next reader answers it) instead.
final class PendingRetries: Sendable {
    private struct Entry {
        var assignment: RequestLedger.Assignment
        var onCancel: @Sendable () -> Void
        var task: Task<Void, Never>?
    }

    private struct State: ~Copyable {
        var next: UInt64 = 0
        var entries: [UInt64: Entry] = [:]
    }

    private let state = Mutex(State())
    /// Where the waiting tasks run: nil, the global executor (the worker); the shell
    /// simulator's seeded executor, so a retry's wait and attempt are steps the seed orders
    /// (an unstructured task does not inherit its starter's executor preference).
    private let executor: (any TaskExecutor)?

    init(executor: (any TaskExecutor)? = nil) {
        self.executor = executor
    }

    /// Retries waiting now.
    var count: Int { state.withLock { $0.entries.count } }

    /// Runs `attempt` after `delay` on `clock`, unless cancelled first (then `onCancel` runs instead).
    func schedule(
        _ assignment: RequestLedger.Assignment, after delay: Duration, clock: any Clock<Duration>,
        attempt: @escaping @Sendable () -> Void, onCancel: @escaping @Sendable () -> Void
    ) {
        let id = state.withLock { state in
            state.next += 1
            state.entries[state.next] = Entry(assignment: assignment, onCancel: onCancel)
            return state.next
        }
        let task = Task(executorPreference: executor) { [self] in
            try? await clock.sleep(for: delay, tolerance: nil)
            // Whoever takes the entry owns it: a cancel that came first has run `onCancel`.
            guard state.withLock({ $0.entries.removeValue(forKey: id) }) != nil else { return }
            attempt()
        }
        state.withLock { $0.entries[id]?.task = task }
    }

    /// Cancels the retries of requests whose assignment matches; runs their `onCancel`.
    func cancel(where matches: (RequestLedger.Assignment) -> Bool) {
        let taken = state.withLock { state in
            let ids = state.entries.filter { matches($0.value.assignment) }.map(\.key)
            return ids.compactMap { state.entries.removeValue(forKey: $0) }
        }
        for entry in taken {
            entry.task?.cancel()
            entry.onCancel()
        }
    }
}
