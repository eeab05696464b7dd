import Synchronization

/// Holds a client's fatal error: set once (by librdkafka's error callback), readable at any
/// time, and awaitable. Waiters get `nil` when the client closes without one, or when their
/// task is cancelled.
final class FatalErrorLatch: Sendable {
    private struct State: ~Copyable {
        var error: KafkaError?
        var finished = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<KafkaError?, Never>] = [:]
    }

    private let state = Mutex(State())

    var error: KafkaError? { state.withLock { $0.error } }

    /// Records the first fatal error; later ones are ignored. Returns true for the first.
    @discardableResult
    func record(_ error: KafkaError) -> Bool {
        let waiters: [CheckedContinuation<KafkaError?, Never>]? = state.withLock { state in
            guard state.error == nil, !state.finished else { return nil }
            state.error = error
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume(returning: error) }
        return true
    }

    /// The client is closed: waiters without a fatal error get `nil`.
    func finish() {
        let waiters = state.withLock { state in
            state.finished = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// Waits for the fatal error; `nil` once the client closed without one, or on cancellation.
    func wait() async -> KafkaError? {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<KafkaError?, Never>) in
                let immediate: KafkaError?? = state.withLock { state in
                    if let error = state.error { return .some(error) }
                    if state.finished || Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: nil)
        }
    }
}
