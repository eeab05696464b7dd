import Synchronization

/// Bytes of requests read and not answered yet, with a limit that makes intake wait.
///
/// Counting requests is not enough: 256 queued requests of 1 MB each is 256 MB. Every
/// record's size is acquired when intake reads it and released once it is answered (or
/// dropped), so the memory held by queued, batched and in-flight requests, including poison
/// and expired ones that never reach the model, is bounded in bytes. The size is the Kafka
/// buffer's `bufferedSize` (its bytes plus per-message and per-header bookkeeping), so a
/// record of many empty headers is not free. A single record larger
/// than the limit is still let through when nothing else is held, so nothing can wedge.
final class InFlightBudget: Sendable {
    private struct State: ~Copyable {
        var used = 0
        var closed = false
        var waiters: [(bytes: Int, continuation: CheckedContinuation<Bool, Never>)] = []
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// Bytes held now.
    var used: Int { state.withLock { $0.used } }

    /// Takes `bytes`, waiting while that would exceed the limit. False once closed.
    func acquire(_ bytes: Int) async -> Bool {
        let immediate: Bool? = state.withLock { state in
            if state.closed { return false }
            guard state.waiters.isEmpty, fits(bytes, state.used) else { return nil }
            state.used += bytes
            return true
        }
        if let immediate { return immediate }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let resume: Bool? = state.withLock { state in
                if state.closed { return false }
                if state.waiters.isEmpty, fits(bytes, state.used) {
                    state.used += bytes
                    return true
                }
                state.waiters.append((bytes, continuation))
                return nil
            }
            if let resume { continuation.resume(returning: resume) }
        }
    }

    /// Gives back `bytes` and wakes the waiters that now fit, in order.
    func release(_ bytes: Int) {
        let ready = state.withLock { state in
            state.used = max(0, state.used - bytes)
            var ready: [CheckedContinuation<Bool, Never>] = []
            while let first = state.waiters.first, fits(first.bytes, state.used) {
                state.used += first.bytes
                ready.append(first.continuation)
                state.waiters.removeFirst()
            }
            return ready
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    /// Wakes every waiter with `false`; later `acquire`s return `false` at once.
    func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: false) }
    }

    private func fits(_ bytes: Int, _ used: Int) -> Bool {
        used == 0 || used + bytes <= limit
    }
}
