import Synchronization

/// Counters read by callers (replay progress, tests) without going through Prometheus.
final class WorkerCounts: Sendable {
    /// Requests answered (result or dead letter acknowledged by the broker).
    let answered = Atomic<Int>(0)
    /// Of them, answered with a dead letter.
    let deadLettered = Atomic<Int>(0)
}
