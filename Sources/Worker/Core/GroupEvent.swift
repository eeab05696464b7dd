import Kafka

/// A change of this member's share of the group, as the worker core sees it (`MessageSource`).
/// Every partition change carries an acknowledgement that the handler calls once it is done
/// with the event: Kafka waits for it on a revoke (the partitions are released only then, or
/// after the revoke timeout), and a simulator uses all three to know when a handler has
/// finished, so it can draw a revoke that outlasts its acknowledgement timeout.
enum GroupEvent: Sendable {
    /// Partitions added; records of them carry a new assignment epoch.
    case assigned([KafkaTopicPartition], GroupEventAcknowledgement)
    /// Partitions taken away in order: finish or hand back their work, commit, acknowledge.
    case revoked([KafkaTopicPartition], GroupEventAcknowledgement)
    /// Partitions lost without an orderly revoke: nothing of them may be committed.
    case lost([KafkaTopicPartition], GroupEventAcknowledgement)
    /// An error outside any call; a fatal one stops the worker through its fatal-error latch.
    case error(KafkaError)
}

/// Tells the source that its handler is done with a group event. Calling it twice is harmless
/// for Kafka's revoke; a fake source must tolerate it too.
struct GroupEventAcknowledgement: Sendable {
    private let action: @Sendable () -> Void

    init(_ action: @escaping @Sendable () -> Void) { self.action = action }

    /// An event nobody waits for (Kafka's assignments and losses).
    static let none = GroupEventAcknowledgement {}

    func acknowledge() { action() }
}
