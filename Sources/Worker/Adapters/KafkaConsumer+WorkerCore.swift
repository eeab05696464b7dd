import Kafka

// The Kafka consumer as the worker core's message source and offset store (the seams are
// in MessageSource.swift and OffsetStore.swift; its events map in GroupEvent+Kafka.swift).

extension KafkaConsumer: MessageSource {
    var records: KafkaConsumerMessages { messages }

    var groupEvents: AsyncMapSequence<KafkaConsumerEvents, GroupEvent> {
        events.map { GroupEvent($0) }
    }

    var assignedCount: Int { assignment.count }
}

extension KafkaConsumer: OffsetStore {
    @discardableResult
    func store(_ partition: KafkaTopicPartition, epoch: UInt64, position: Int64) throws(KafkaError) -> Bool {
        // A re-assignment between this check and the store is a window of microseconds; the
        // worst it can do is move the position back (a duplicate), never past an unanswered record.
        guard holdsLatestAssignment(partition, epoch: epoch) else { return false }
        try storeOffsets([KafkaTopicPartition(topic: partition.topic, partition: partition.partition, offset: position)])
        return true
    }

    func commitStored() async throws(KafkaError) {
        try await commit()
    }
}
