/// Something the application must know about its consumer, other than messages.
public enum KafkaConsumerEvent: Sendable {
    /// Partitions were added to this member's assignment; messages from them follow. Each
    /// one's `KafkaConsumer.assignmentEpoch(of:)` has moved to a new value, which the
    /// messages fetched under this assignment carry.
    case partitionsAssigned([KafkaTopicPartition])
    /// Partitions are being taken away. The consumer has already dropped its buffered,
    /// undelivered messages of them (their next owner re-reads them), and their
    /// `assignmentEpoch(of:)` is already `nil`, so a message of them the application took
    /// earlier is recognisably stale. The partitions are
    /// released when `acknowledgement.acknowledge()` is called (after the application has
    /// finished and committed its in-flight work of them), or after `revokeTimeout`.
    case partitionsRevoked([KafkaTopicPartition], RevokeAcknowledgement)
    /// Partitions were lost without an orderly revoke (session timeout, fencing): offsets
    /// of them can no longer be committed; in-flight work may be redone by the next owner.
    case partitionsLost([KafkaTopicPartition])
    /// An error reported by librdkafka outside any call. Most are transient and librdkafka
    /// recovers by itself (`_TRANSPORT`, `_ALL_BROKERS_DOWN` while the link is down); only an
    /// error with `isFatal` (disposition `.fatal`) means the consumer is unusable, and it is
    /// also kept in `KafkaConsumer.fatalError`.
    case error(KafkaError)
}
