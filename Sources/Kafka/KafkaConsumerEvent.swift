import Dispatch

/// Something the application must know about its consumer, other than messages.
public enum KafkaConsumerEvent: Sendable {
    /// Partitions were added to this member's assignment; messages from them follow.
    case partitionsAssigned([KafkaTopicPartition])
    /// Partitions are being taken away. The consumer has already dropped its buffered,
    /// undelivered messages of them (their next owner re-reads them). The partitions are
    /// released when `acknowledgement.acknowledge()` is called (after the application has
    /// finished and committed its in-flight work of them), or after `revokeTimeout`.
    case partitionsRevoked([KafkaTopicPartition], RevokeAcknowledgement)
    /// Partitions were lost without an orderly revoke (session timeout, fencing): offsets
    /// of them can no longer be committed; in-flight work may be redone by the next owner.
    case partitionsLost([KafkaTopicPartition])
    /// An error reported by librdkafka outside any call (connection, fatal, ...).
    case error(KafkaError)
}

/// Lets the application tell the consumer that a revoke may complete.
public final class RevokeAcknowledgement: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)

    init() {}

    /// The application is done with the revoked partitions. Calling it twice is harmless.
    public func acknowledge() {
        semaphore.signal()
    }

    /// Called by the poll thread; true when acknowledged in time.
    func wait(timeout: Duration) -> Bool {
        semaphore.wait(timeout: .now() + .milliseconds(Int(timeout.milliseconds))) == .success
    }
}
