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
public final class OffsetTracker: Sendable {
    private struct Partition {
        var pending: Set<Int64> = []
        var nextAfterSeen: Int64 = 0
        init(lastStored: Int64) {
            self.lastStored = lastStored
            self.nextAfterSeen = lastStored
        }
        var ceiling: Int64?
        /// The position last handed out for storing; starts at the first offset read, the
        /// position the partition was fetched from.
        var lastStored: Int64

        var committable: Int64 {
            let frontier = pending.min() ?? nextAfterSeen
            return ceiling.map { min($0, frontier) } ?? frontier
        }
    }

    private let partitions = Mutex<[KafkaTopicPartition: Partition]>([:])

    public init() {}

    /// Records that `offset` of `partition` was read and is not answered yet.
    public func register(_ partition: KafkaTopicPartition, offset: Int64) {
        partitions.withLock { partitions in
            var state = partitions[partition] ?? Partition(lastStored: offset)
            state.pending.insert(offset)
            state.nextAfterSeen = max(state.nextAfterSeen, offset + 1)
            partitions[partition] = state
        }
    }

    /// Records that `offset` is answered; returns the new position to store ("next offset to
    /// read") when it advanced, `nil` otherwise.
    public func complete(_ partition: KafkaTopicPartition, offset: Int64) -> Int64? {
        partitions.withLock { partitions in
            guard var state = partitions[partition], state.pending.remove(offset) != nil else { return nil }
            let position = state.committable
            defer { partitions[partition] = state }
            guard position > state.lastStored else { return nil }
            state.lastStored = position
            return position
        }
    }

    /// Forgets `offset` without answering it (it will be re-read by the partition's next
    /// reader) and freezes the partition's position at or below it.
    public func abandon(_ partition: KafkaTopicPartition, offset: Int64) {
        partitions.withLock { partitions in
            guard var state = partitions[partition] else { return }
            state.pending.remove(offset)
            state.ceiling = min(state.ceiling ?? offset, offset)
            partitions[partition] = state
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

    /// Drops the state of partitions this worker no longer owns.
    public func forget(_ selection: Set<KafkaTopicPartition>) {
        partitions.withLock { partitions in
            for partition in selection { partitions[partition] = nil }
        }
    }
}
