import Synchronization

/// Where a yielding replay's intake waits while the live group is behind, and what the
/// progress line shows about it.
///
/// Closed, the intake takes no new record: requests already taken (queued, in the model,
/// being sent) finish and are answered as usual, so the ledger's rules are untouched; the
/// consumer's buffer fills and its flow control pauses fetching (memory stays bounded by
/// `--max-buffered-bytes`). Opened, intake goes on. Stopping releases it for good.
///
/// The inference loop waits in `waitForBatch()`, which also applies the resume pacing
/// (`ReplayResumePacing`): a pause is held for its minimum, and the batches right after a
/// resume are spaced instead of taken back to back.
public final class ReplayYieldGate: Sendable {
    /// What a progress line or a test reads.
    public struct Status: Sendable, Equatable {
        public var paused = false
        /// The live group's newest lag reading (nil: none yet, or the last one failed).
        public var liveLag: Int64?
        public var pauses = 0
        /// Seconds spent paused, the current pause included.
        public var pausedSeconds = 0.0
        /// Why, for the progress line: "live lag 1234 > 1000".
        public var reason = ""
    }

    private struct State: ~Copyable {
        var closed = false
        var released = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var status = Status()
        var pausedSince: ContinuousClock.Instant?
        var pausedBefore: Duration = .zero
        /// The last resume, and the last batch taken since (the pacing's inputs).
        var openedAt: ContinuousClock.Instant?
        var lastBatchAt: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    public let pacing: ReplayResumePacing

    public init(pacing: ReplayResumePacing = .off) {
        self.pacing = pacing
    }

    /// Whether the current pause has lasted its minimum (true when not paused).
    public func mayResume(now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            guard let since = state.pausedSince else { return true }
            return pacing.mayResume(pausedFor: now - since)
        }
    }

    /// The inference loop's wait before each batch: returns once the gate is open and the
    /// resume pacing lets the next batch go (at once when released, or when the task is
    /// cancelled).
    func waitForBatch() async {
        while true {
            await wait()
            let delay = state.withLock { state -> Duration in
                let now = ContinuousClock.now
                guard !state.released, !state.closed, let openedAt = state.openedAt else {
                    state.lastBatchAt = now
                    return .zero
                }
                let delay = pacing.delay(sinceResume: now - openedAt, sinceLastBatch: state.lastBatchAt.map { now - $0 })
                if delay == .zero { state.lastBatchAt = now }
                return delay
            }
            if delay == .zero || Task.isCancelled { return }
            try? await Task.sleep(for: delay)
        }
    }

    public var status: Status {
        state.withLock { state in
            var status = state.status
            let current = state.pausedSince.map { ContinuousClock.now - $0 } ?? .zero
            status.pausedSeconds = seconds(state.pausedBefore + current)
            return status
        }
    }

    /// Returns at once when open; otherwise when opened or released.
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = state.withLock { state in
                if !state.closed || state.released { return true }
                state.waiters.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }

    /// Intake waits from now on.
    func close(reason: String) {
        state.withLock { state in
            guard !state.released, !state.closed else { return }
            state.closed = true
            state.pausedSince = ContinuousClock.now
            state.status.paused = true
            state.status.pauses += 1
            state.status.reason = reason
        }
    }

    /// Intake goes on.
    func open(reason: String) {
        let waiters = state.withLock { state in
            if state.closed, let since = state.pausedSince {
                state.pausedBefore += ContinuousClock.now - since
                state.openedAt = ContinuousClock.now
                state.lastBatchAt = nil
            }
            state.closed = false
            state.pausedSince = nil
            state.status.paused = false
            state.status.reason = reason
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Records a lag reading for the status.
    func noteLag(_ lag: Int64?) {
        state.withLock { $0.status.liveLag = lag }
    }

    /// Stopping: open for good, whatever the lag says.
    func release() {
        state.withLock { $0.released = true }
        open(reason: "stopping")
    }
}
