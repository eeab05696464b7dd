/// A partition of a topic, optionally with an offset (meaning depends on the call:
/// "next offset to read" for commits and positions, a timestamp for `offsets(forTimes:)`).
public struct KafkaTopicPartition: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    /// `nil` when the call does not carry or could not determine an offset.
    public var offset: Int64?

    public init(topic: String, partition: Int32, offset: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    /// The partition without its offset, for use as a dictionary key.
    public var withoutOffset: KafkaTopicPartition {
        KafkaTopicPartition(topic: topic, partition: partition)
    }

    public var description: String {
        offset.map { "\(topic)[\(partition)]@\($0)" } ?? "\(topic)[\(partition)]"
    }
}
