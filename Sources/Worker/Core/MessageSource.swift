import Kafka

/// Where the worker's requests come from and what its group does with this member's
/// partitions: the Kafka consumer in production, a scripted fake in a simulator (seam of the
/// worker core, beside `OffsetStore`, `RecordSink` and `RequestClassifier`). `RequestIntake`
/// reads `records`; `RebalanceHandler` reads `groupEvents` and acknowledges each one.
protocol MessageSource: Sendable {
    associatedtype Records: AsyncSequence<KafkaConsumerMessage, Never>
    associatedtype GroupEvents: AsyncSequence<GroupEvent, Never>

    /// Records in partition order, each carrying the assignment epoch it was fetched under;
    /// ends when the source closes. Iterated by one task.
    var records: Records { get }
    /// Assignments, revokes, losses and errors, in the order they happened; ends when the
    /// source closes. Iterated by one task.
    var groupEvents: GroupEvents { get }
    /// The partition's current assignment epoch; `nil` while it is not assigned (a record of
    /// another epoch is stale: its partition's next reader answers it).
    func assignmentEpoch(of partition: KafkaTopicPartition) -> UInt64?
    /// Partitions assigned now (for the gauge).
    var assignedCount: Int { get }
    /// Stops fetching the partitions (a replay's range end).
    func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError)
    /// Commits the stored positions, waiting at most `timeout` for the broker.
    func commit(timeout: Duration) async throws(KafkaError)
}
