import Kafka
import Synchronization

/// What a replay re-scores: per partition of one topic, the offsets `start..<end` still to
/// answer. The worker answers exactly these messages, skips the rest, and is done once the
/// request ledger's answered position of every partition has reached its `ends` entry.
public final class ReplayPlan: Sendable {
    /// The topic being replayed.
    public let topic: String
    /// Per partition: first offset to answer (the range start, or the group's committed
    /// position when resuming) and the end (exclusive).
    public let ranges: [Int32: Range<Int64>]
    private let reached = Mutex<Set<Int32>>([])
    /// Partitions whose end the consumer reported (`reachedEnd`).
    private let passedEnd = Mutex<Set<Int32>>([])
    /// Per partition, the highest offset decided `.answer`.
    private let lastAnswer = Mutex<[Int32: Int64]>([:])

    public init(topic: String, ranges: [Int32: Range<Int64>]) {
        self.topic = topic
        self.ranges = ranges
        // Empty ranges (nothing to do, or already done before a resume) are finished now.
        reached.withLock { $0 = Set(ranges.filter { $0.value.isEmpty }.keys) }
    }

    /// Messages in all ranges (the progress total).
    public var total: Int64 { ranges.values.reduce(0) { $0 + Int64($1.count) } }

    public enum Decision: Equatable {
        /// Answer it; `last` when it is the final message of its partition's range.
        case answer(last: Bool)
        /// Not in the plan: leave it alone.
        case skip
        /// At or past the end: the partition is finished.
        case end
    }

    /// Decides what to do with a message of the replayed topic and records progress.
    public func decide(partition: Int32, offset: Int64) -> Decision {
        guard let range = ranges[partition], offset >= range.lowerBound else { return .skip }
        if offset >= range.upperBound {
            reached.withLock { _ = $0.insert(partition) }
            return .end
        }
        lastAnswer.withLock { $0[partition] = max($0[partition] ?? offset, offset) }
        if offset == range.upperBound - 1 {
            reached.withLock { _ = $0.insert(partition) }
            return .answer(last: true)
        }
        return .answer(last: false)
    }

    /// The consumer passed the last consumable offset of `partition` (`nextOffset` is its
    /// high watermark then): when that is at or past the range's end, the partition is done,
    /// even though its last offsets (transaction markers) were never delivered. Its end for
    /// the ledger becomes the offset after the last record answered (`ends`).
    public func reachedEnd(partition: Int32, nextOffset: Int64) {
        guard let range = ranges[partition], nextOffset >= range.upperBound else { return }
        reached.withLock { _ = $0.insert(partition) }
        passedEnd.withLock { _ = $0.insert(partition) }
    }

    /// Per partition with something to answer, the position its answered prefix must reach:
    /// the range's end, or, once the consumer reported the partition's end (`reachedEnd`), the
    /// offset after its last record to answer (a range that ends in control records is never
    /// delivered up to its end; one with no record at all has nothing to wait for). The
    /// request ledger says the replay is done once all are reached.
    public var ends: [KafkaTopicPartition: Int64] {
        let (passed, last) = (passedEnd.withLock { $0 }, lastAnswer.withLock { $0 })
        var ends: [KafkaTopicPartition: Int64] = [:]
        for (partition, range) in ranges where !range.isEmpty {
            let end = passed.contains(partition) ? last[partition].map { $0 + 1 } : range.upperBound
            if let end { ends[KafkaTopicPartition(topic: topic, partition: partition)] = end }
        }
        return ends
    }

    /// Every partition has reached its end (answers may still be in flight).
    public var allPartitionsReached: Bool {
        reached.withLock { $0.count == ranges.count }
    }
}
