import Kafka
import Synchronization

/// Decides which offsets may be stored for commit: a message's offset is stored only when it
/// and every earlier message of its partition has its result (or dead letter) acknowledged
/// by the broker. That is the whole at-least-once guarantee of the worker.
///
/// Messages are registered in partition order as they are read, and completed in any order
/// (batches finish out of order across partitions, dead letters overtake inference). The
/// committable position of a partition is its smallest unfinished offset, or one past the
/// largest offset seen when nothing is unfinished.
///
/// A `ceiling` freezes a partition below the first message the worker dropped without
/// answering (on revoke or shutdown), so a later completion can never commit past it.
///
/// Each state belongs to one assignment of its partition (the consumer's
/// `assignmentEpoch`): a message read under an earlier assignment, or after the partition
/// was revoked, is refused at `register`, and its late completion changes nothing. Without
/// this, a message already taken from the consumer when its partition was revoked could
/// start a fresh state and store `offset + 1` past messages abandoned at the revoke.
public final class OffsetTracker: Sendable {
    private struct Partition {
        /// The assignment this state belongs to.
        var epoch: UInt64
        /// False once revoked or lost: no new registrations under this epoch.
        var owned = true
        var pending: Set<Int64> = []
        var nextAfterSeen: Int64
        var ceiling: Int64?
        /// The position last handed out for storing; starts at the first offset read, the
        /// position the partition was fetched from.
        var lastStored: Int64

        init(epoch: UInt64, firstOffset: Int64) {
            self.epoch = epoch
            lastStored = firstOffset
            nextAfterSeen = firstOffset
        }

        var committable: Int64 {
            let frontier = pending.min() ?? nextAfterSeen
            return ceiling.map { min($0, frontier) } ?? frontier
        }
    }

    private let partitions = Mutex<[KafkaTopicPartition: Partition]>([:])

    public init() {}

    /// Records that `message` was read and is not answered yet. False when it belongs to an
    /// assignment that is over (the caller drops it: the partition's owner re-reads it).
    public func register(_ message: KafkaConsumerMessage) -> Bool {
        let key = message.topicPartition
        let epoch = message.assignmentEpoch
        return partitions.withLock { partitions in
            var state = partitions[key] ?? Partition(epoch: epoch, firstOffset: message.offset)
            if epoch < state.epoch || (epoch == state.epoch && !state.owned) { return false }
            if epoch > state.epoch { state = Partition(epoch: epoch, firstOffset: message.offset) }
            state.pending.insert(message.offset)
            state.nextAfterSeen = max(state.nextAfterSeen, message.offset + 1)
            partitions[key] = state
            return true
        }
    }

    /// Records that `message` is answered; returns the new position to store ("next offset
    /// to read") when it advanced, `nil` otherwise (also for a message of an earlier assignment).
    public func complete(_ message: KafkaConsumerMessage) -> Int64? {
        partitions.withLock { partitions in Self.advance(&partitions, message) }
    }

    /// Records that `message` is answered and, when its partition's position advanced, hands
    /// the new position to `store` (the consumer's offset store) before releasing the lock.
    /// So positions reach the store in the order they advance (two completions cannot store
    /// 7 and then 5), and `pendingCount()` reads 0 only once the last position is stored:
    /// shutdown and revoke commit right after it, and a position stored a moment later would
    /// be missing from that commit (its request answered again after a restart). `store` must
    /// not call back into the tracker.
    public func complete(_ message: KafkaConsumerMessage, store: (Int64) -> Void) {
        partitions.withLock { partitions in
            if let position = Self.advance(&partitions, message) { store(position) }
        }
    }

    private static func advance(_ partitions: inout [KafkaTopicPartition: Partition], _ message: KafkaConsumerMessage) -> Int64? {
        guard var state = partitions[message.topicPartition], state.epoch == message.assignmentEpoch,
            state.pending.remove(message.offset) != nil
        else { return nil }
        let position = state.committable
        defer { partitions[message.topicPartition] = state }
        guard position > state.lastStored else { return nil }
        state.lastStored = position
        return position
    }

    /// Forgets `message` without answering it (the partition's next reader re-reads it) and
    /// freezes the partition's position at or below it.
    public func abandon(_ message: KafkaConsumerMessage) {
        partitions.withLock { partitions in
            guard var state = partitions[message.topicPartition], state.epoch == message.assignmentEpoch else { return }
            state.pending.remove(message.offset)
            state.ceiling = min(state.ceiling ?? message.offset, message.offset)
            partitions[message.topicPartition] = state
        }
    }

    /// Unanswered messages of `partitions` (all partitions when `nil`).
    public func pendingCount(in selection: Set<KafkaTopicPartition>? = nil) -> Int {
        partitions.withLock { partitions in
            partitions.reduce(0) { total, entry in
                guard selection?.contains(entry.key) ?? true else { return total }
                return total + entry.value.pending.count
            }
        }
    }

    /// A revoke began: no new messages of these partitions are accepted under their current
    /// assignment; those already registered may still complete (and be committed on revoke).
    public func disown(_ selection: Set<KafkaTopicPartition>) {
        partitions.withLock { partitions in
            for partition in selection { partitions[partition]?.owned = false }
        }
    }

    /// Drops the unanswered messages of partitions this worker no longer owns; their late
    /// completions are ignored. The epoch is kept, so stale messages stay refused.
    public func forget(_ selection: Set<KafkaTopicPartition>) {
        partitions.withLock { partitions in
            for partition in selection {
                partitions[partition]?.owned = false
                partitions[partition]?.pending = []
            }
        }
    }
}
