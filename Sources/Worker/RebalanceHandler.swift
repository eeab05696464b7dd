import Kafka
import Logging

/// Reacts to the consumer's group events.
///
/// Revoke: the partitions' queued requests are the next owner's, so they are handed back
/// (dropped, offsets frozen below them); what is in flight is finished within the drain
/// time; stored offsets are committed; then the revoke is acknowledged, which lets the
/// consumer release the partitions. Lost (the group moved on without us): drop everything
/// of those partitions, nothing may be committed. (A fatal consumer error stops the worker
/// through the consumer's fatal-error latch, not here.)
struct RebalanceHandler: Sendable {
    let consumer: KafkaConsumer
    let tracker: OffsetTracker
    let metrics: WorkerMetrics
    let drainTimeout: Duration
    let logger: Logger
    /// Hands queued requests matching the predicate back (see `ModerationWorker.abandonQueued`).
    let abandonQueued: @Sendable (@Sendable (WorkItem) -> Bool) -> Void

    /// Runs until the consumer closes.
    func run() async {
        for await event in consumer.events {
            switch event {
            case .partitionsAssigned:
                metrics.assignedPartitions.set(Double(consumer.assignment.count))
            case .partitionsRevoked(let partitions, let acknowledgement):
                let revoked = Set(partitions)
                tracker.disown(revoked)
                abandonQueued { revoked.contains($0.source.topicPartition) }
                let deadline = ContinuousClock.now + drainTimeout
                while tracker.pendingCount(in: revoked) > 0 && ContinuousClock.now < deadline && !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(10))
                }
                do {
                    try await consumer.commit()
                } catch {
                    logger.warning("commit on revoke failed", metadata: ["error": "\(error)"])
                }
                tracker.forget(revoked)
                acknowledgement.acknowledge()
                metrics.assignedPartitions.set(Double(consumer.assignment.count))
            case .partitionsLost(let partitions):
                let lost = Set(partitions)
                tracker.forget(lost)
                abandonQueued { lost.contains($0.source.topicPartition) }
                metrics.assignedPartitions.set(Double(consumer.assignment.count))
            case .error(let error):
                // A fatal one stops the worker through the consumer's fatal-error latch
                // (`ModerationWorker.stopOnFatalError`), which logs it once.
                if !error.isFatal { logger.warning("Kafka error: \(error)") }
            }
        }
    }
}
