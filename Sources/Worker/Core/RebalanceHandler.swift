import Kafka
import Logging

/// Reacts to the consumer's group events; every cleanup names the assignment (partition and
/// epoch) it belongs to, so a slow revoke that outlasts the consumer's wait cannot touch the
/// partition's next assignment (issue 17 problem 1).
///
/// Revoke: the assignments' queued requests are the next owner's, so they are handed back
/// (dropped, positions frozen below them); what is in flight is finished within the drain
/// time (the ledger wakes us, no polling); delivery retries still waiting then are cancelled
/// and their requests handed back too; stored offsets are committed; then the revoke is
/// acknowledged, which lets the consumer release the partitions. Lost (the group moved on
/// without us): drop everything of those assignments, nothing may be committed. (A fatal
/// consumer error stops the worker through the consumer's fatal-error latch, not here.)
///
/// Every event is acknowledged once handled (`GroupEventAcknowledgement`); only Kafka's revoke
/// waits for it, a simulator's source learns from all three that the handler is done.
struct RebalanceHandler<Source: MessageSource>: Sendable {
    let consumer: Source
    let ledger: RequestLedger
    let metrics: WorkerMetrics
    let drainTimeout: Duration
    /// How long a revoke's commit waits for the broker (part of the shutdown bound at close).
    let commitTimeout: Duration
    let logger: Logger
    /// Hands queued requests matching the predicate back (see `ModerationWorker.abandonQueued`).
    let abandonQueued: @Sendable (@Sendable (WorkItem) -> Bool) -> Void
    /// Cancels the waiting delivery retries of requests of these assignments (`ResultSender.cancelRetries`).
    let cancelRetries: @Sendable (Set<RequestLedger.Assignment>) -> Void
    /// True once the worker is stopping: its shutdown has already waited for in-flight work
    /// (up to the drain time), so the revoke at close does not wait a second drain time.
    let isStopping: @Sendable () -> Bool
    /// What the drain time is measured on (a simulator's clock in tests).
    var clock: any Clock<Duration> = ContinuousClock()

    /// Runs until the consumer closes.
    func run() async {
        var epochs = AssignmentEpochs()
        for await event in consumer.groupEvents {
            switch event {
            case .assigned(let partitions, let acknowledgement):
                epochs.assigned(partitions)
                metrics.assignedPartitions.set(Double(consumer.assignedCount))
                acknowledgement.acknowledge()
            case .revoked(let partitions, let acknowledgement):
                let revoked = epochs.current(partitions)
                ledger.disown(revoked)
                abandonQueued { [ledger] in ledger.covers(revoked, $0.source) }
                if !(await ledger.drained(revoked, within: isStopping() ? .zero : drainTimeout, clock: clock)) {
                    logger.warning("revoke: results still unacknowledged after the drain time; their next owner re-reads them")
                }
                cancelRetries(revoked)
                do {
                    try await consumer.commit(timeout: commitTimeout)
                } catch {
                    logger.warning("commit on revoke failed", metadata: ["error": "\(error)"])
                }
                ledger.forget(revoked)
                // What the first hand-back kept (queued below an answer) and the drain did not
                // reach goes back now: the assignment is over, nothing of it may run later.
                abandonQueued { [ledger] in ledger.covers(revoked, $0.source) }
                acknowledgement.acknowledge()
                metrics.assignedPartitions.set(Double(consumer.assignedCount))
            case .lost(let partitions, let acknowledgement):
                let lost = epochs.current(partitions)
                ledger.forget(lost)
                abandonQueued { [ledger] in ledger.covers(lost, $0.source) }
                cancelRetries(lost)
                metrics.assignedPartitions.set(Double(consumer.assignedCount))
                acknowledgement.acknowledge()
            case .error(let error):
                // A fatal one stops the worker through the consumer's fatal-error latch
                // (`ModerationWorker.stopOnFatalError`), which logs it once.
                if !error.isFatal { logger.warning("Kafka error: \(error)") }
            }
        }
    }
}
