import Kafka

/// Which assignment of each partition a group event is about. The consumer gives a partition
/// epoch `n` on its `n`-th assignment to this member and yields exactly one
/// `partitionsAssigned` per assignment, in order, on a stream that drops nothing; so counting the
/// events read gives the epoch of the assignment a later revoke or loss ends, even when that
/// event is handled long after the consumer has moved on to a newer assignment (reading
/// `assignmentEpoch(of:)` at that point would name the newer one).
struct AssignmentEpochs: Sendable {
    private var counts: [KafkaTopicPartition: UInt64] = [:]

    mutating func assigned(_ partitions: [KafkaTopicPartition]) {
        for partition in partitions { counts[partition.withoutOffset, default: 0] += 1 }
    }

    /// The assignments the given partitions are in now (as far as the events read say).
    func current(_ partitions: [KafkaTopicPartition]) -> Set<RequestLedger.Assignment> {
        Set(partitions.map { RequestLedger.Assignment($0.withoutOffset, epoch: counts[$0.withoutOffset] ?? 0) })
    }
}
