import Kafka

/// Where the ledger's positions go and how they are committed: the consumer's offset store
/// in production, a recording fake in the simulator (seam of the worker core).
protocol OffsetStore: Sendable {
    /// Stores `position` ("next offset to read") of `partition`, reached under assignment
    /// `epoch`, for the next commit; false (nothing stored) when that assignment is no longer
    /// the partition's latest: its position would land in the next assignment's store (found
    /// by the simulator: an old epoch's late answer moved a newer assignment's commit back).
    @discardableResult
    func store(_ partition: KafkaTopicPartition, epoch: UInt64, position: Int64) throws(KafkaError) -> Bool
    /// Commits the stored positions.
    func commitStored() async throws(KafkaError)
}
