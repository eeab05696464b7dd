import Kafka

/// Where the ledger's positions go and how they are committed: the consumer's offset store
/// in production, a recording fake in the simulator (seam of the worker core).
protocol OffsetStore: Sendable {
    /// Stores `position` ("next offset to read") of `partition` for the next commit.
    func store(_ partition: KafkaTopicPartition, position: Int64) throws(KafkaError)
    /// Commits the stored positions.
    func commitStored() async throws(KafkaError)
}

extension KafkaConsumer: OffsetStore {
    func store(_ partition: KafkaTopicPartition, position: Int64) throws(KafkaError) {
        try storeOffsets([KafkaTopicPartition(topic: partition.topic, partition: partition.partition, offset: position)])
    }

    func commitStored() async throws(KafkaError) {
        try await commit()
    }
}
