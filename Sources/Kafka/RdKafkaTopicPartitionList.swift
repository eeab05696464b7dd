import CRdKafka

/// An `rd_kafka_topic_partition_list_t` that this object owns and frees.
///
/// Why a class with `withPointer` rather than a bare pointer: Swift may end an object's
/// lifetime right after its last use, so handing out the pointer could free the list while
/// librdkafka still reads it; `withPointer` keeps the list alive for the whole call.
final class RdKafkaTopicPartitionList {
    private let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    /// A list of partitions with their offsets (`nil`: `RD_KAFKA_OFFSET_INVALID`, i.e. unset).
    init(_ partitions: [KafkaTopicPartition]) {
        // librdkafka aborts on allocation failure, so these calls do not return NULL.
        pointer = rd_kafka_topic_partition_list_new(Int32(clamping: max(partitions.count, 1)))!
        for item in partitions {
            let element = rd_kafka_topic_partition_list_add(pointer, item.topic, item.partition)!
            element.pointee.offset = item.offset ?? Int64(RD_KAFKA_OFFSET_INVALID)
        }
    }

    /// A subscription list: topic names (or `^regex`) without partitions.
    init(topics: [String]) {
        pointer = rd_kafka_topic_partition_list_new(Int32(clamping: max(topics.count, 1)))!
        for topic in topics {
            rd_kafka_topic_partition_list_add(pointer, topic, RD_KAFKA_PARTITION_UA)
        }
    }

    deinit {
        rd_kafka_topic_partition_list_destroy(pointer)
    }

    /// Runs a librdkafka call on the list, keeping the list alive throughout.
    func withPointer<R, E: Error>(
        _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws(E) -> R
    ) throws(E) -> R {
        defer { withExtendedLifetime(self) {} }
        return try body(pointer)
    }

    /// The list's entries, as librdkafka left them after a call.
    var partitions: [KafkaTopicPartition] {
        withPointer { Self.partitions(of: $0) }
    }

    /// The first per-partition error librdkafka set in the list, if any.
    func firstError(context: String) -> KafkaError? {
        withPointer { Self.firstError(of: $0, context: context) }
    }

    // MARK: lists owned by librdkafka (e.g. the rebalance callback's)

    /// Reads a list; offsets librdkafka calls invalid (negative) become `nil`.
    static func partitions(of list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [KafkaTopicPartition] {
        let count = Int(max(list.pointee.cnt, 0))
        guard count > 0, let elements = list.pointee.elems else { return [] }
        return (0..<count).map { index in
            let element = elements[index]
            return KafkaTopicPartition(
                topic: String(cString: element.topic),
                partition: element.partition,
                offset: element.offset < 0 ? nil : element.offset)
        }
    }

    /// The first per-partition error in a list, if any.
    static func firstError(of list: UnsafePointer<rd_kafka_topic_partition_list_t>, context: String) -> KafkaError? {
        let count = Int(max(list.pointee.cnt, 0))
        guard count > 0, let elements = list.pointee.elems else { return nil }
        for index in 0..<count {
            let element = elements[index]
            if element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                return KafkaError(
                    code: element.err,
                    context: "\(context) \(String(cString: element.topic))[\(element.partition)]")
            }
        }
        return nil
    }

    /// Sets the offset of the entries whose partition has one in `offsets` (a list librdkafka
    /// passed in, e.g. to start assigned partitions at a replay's range start).
    static func setOffsets(
        _ offsets: [KafkaTopicPartition: Int64], in list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    ) {
        let count = Int(max(list.pointee.cnt, 0))
        guard count > 0, !offsets.isEmpty, let elements = list.pointee.elems else { return }
        for index in 0..<count {
            let key = KafkaTopicPartition(topic: String(cString: elements[index].topic), partition: elements[index].partition)
            if let offset = offsets[key] { elements[index].offset = offset }
        }
    }
}
