/// A record read by a `KafkaConsumer`. Its bytes are copied out of librdkafka, so it stays
/// valid after the consumer moves on.
public struct KafkaConsumerMessage: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// Milliseconds since the epoch (create or log-append time), or `nil` when unavailable.
    public var timestampMilliseconds: Int64?
    /// Which assignment of its partition to this consumer the message was fetched under:
    /// the partition's `KafkaConsumer.assignmentEpoch(of:)` at that moment (1 for the first
    /// assignment, one more for each later one). Stamped on the poll thread, in the same
    /// order as rebalances, so it is exact. A message whose epoch is no longer its partition's
    /// current one belongs to an assignment that was revoked: its result must not be stored.
    /// 0 for messages not made by a consumer.
    public var assignmentEpoch: UInt64
    /// Set when librdkafka could not read the record(s) at `offset` and skipped them (a
    /// batch whose compression cannot be undone, a CRC mismatch with `check.crcs`): the
    /// message stands in for them, with no key, value or headers, so that the application
    /// answers it (a dead letter with these coordinates) before any later offset of the
    /// partition is committed. `nil` for every record that was read.
    public var unreadable: UnreadableRecord?
    /// Internal marker: not a record but librdkafka's partition-EOF event, queued in order
    /// with the records (`offset` is the partition's next offset then). Never handed to the
    /// application; `KafkaConsumer.onPartitionEnd` is called when a reader passes it.
    var isEndOfPartition = false

    public init(
        topic: String, partition: Int32, offset: Int64, key: [UInt8]? = nil, value: [UInt8]? = nil,
        headers: [KafkaHeader] = [], timestampMilliseconds: Int64? = nil, assignmentEpoch: UInt64 = 0
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
        self.assignmentEpoch = assignmentEpoch
    }

    /// Why librdkafka skipped the records at a message's offset (see `unreadable`).
    public struct UnreadableRecord: Sendable, Hashable {
        /// librdkafka's error name (`_BAD_COMPRESSION`, `_BAD_MSG`, `_NOT_IMPLEMENTED`).
        public var code: String
        /// Its explanation, with the offset and size.
        public var message: String

        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    /// The partition this message came from.
    public var topicPartition: KafkaTopicPartition {
        KafkaTopicPartition(topic: topic, partition: partition)
    }

    /// What the message costs in the consumer's buffer: its bytes (key, value, headers,
    /// topic name) plus a fixed overhead for the value itself and its arrays.
    public var bufferedSize: Int {
        var size = Self.overhead + topic.utf8.count + (key?.count ?? 0) + (value?.count ?? 0)
        for header in headers {
            size += Self.headerOverhead + header.key.utf8.count + (header.value?.count ?? 0)
        }
        return size
    }

    /// Per-message and per-header bookkeeping bytes counted in `bufferedSize` (the struct,
    /// array and string headers), so that a flood of empty messages is bounded in bytes too.
    static let overhead = 128
    static let headerOverhead = 48
}
