import Synchronization

/// The queue between a consumer's poll thread and the application.
///
/// Unlike an `AsyncStream`, it can drop the buffered messages of revoked partitions, which
/// their next owner re-reads; and its size, in messages and in bytes (`bufferedSize`),
/// drives the consumer's flow control.
final class KafkaMessageBuffer: Sendable {
    private struct State: ~Copyable {
        /// Slots before `head` are `nil`: a message handed out must not stay referenced here
        /// (with 1 MB messages, 1,000 consumed slots would pin 1 GB until compaction).
        var items: [KafkaConsumerMessage?] = []
        var head = 0
        var bytes = 0
        var waiter: CheckedContinuation<KafkaConsumerMessage?, Never>?
        var finished = false

        var count: Int { items.count - head }

        mutating func popFirst() -> KafkaConsumerMessage? {
            guard head < items.count, let item = items[head] else { return nil }
            items[head] = nil
            head += 1
            bytes -= item.bufferedSize
            // Compact once the consumed prefix dominates, keeping pops amortised O(1).
            if head > 1024 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            return item
        }
    }

    private let state = Mutex(State())

    /// Messages waiting for the application.
    var count: Int {
        state.withLock { $0.count }
    }

    /// Bytes (`KafkaConsumerMessage.bufferedSize`) waiting for the application.
    var bytes: Int {
        state.withLock { $0.bytes }
    }

    /// Messages and bytes waiting, read together.
    var size: (messages: Int, bytes: Int) {
        state.withLock { ($0.count, $0.bytes) }
    }

    /// Adds messages in order, handing the first straight to a waiting reader if there is one.
    func append(contentsOf messages: [KafkaConsumerMessage]) {
        guard let first = messages.first else { return }
        let waiter: CheckedContinuation<KafkaConsumerMessage?, Never>? = state.withLock { state in
            guard !state.finished else { return nil }
            let rest = messages.dropFirst()
            if let waiter = state.waiter {
                state.waiter = nil
                state.items.append(contentsOf: rest.map(Optional.some))
                for message in rest { state.bytes += message.bufferedSize }
                return waiter
            }
            state.items.append(contentsOf: messages.map(Optional.some))
            for message in messages { state.bytes += message.bufferedSize }
            return nil
        }
        waiter?.resume(returning: first)
    }

    /// Removes the buffered messages of the given partitions; returns how many.
    @discardableResult
    func removeAll(of partitions: Set<KafkaTopicPartition>) -> Int {
        state.withLock { state in
            let before = state.count
            let kept = state.items[state.head...].compactMap { $0 }.filter { !partitions.contains($0.topicPartition) }
            state.items = kept.map(Optional.some)
            state.head = 0
            state.bytes = kept.reduce(0) { $0 + $1.bufferedSize }
            return before - kept.count
        }
    }

    /// Up to `max` messages that are already here, without waiting.
    func takeAvailable(max: Int) -> [KafkaConsumerMessage] {
        let taken: [KafkaConsumerMessage] = state.withLock { state in
            var result: [KafkaConsumerMessage] = []
            result.reserveCapacity(Swift.max(0, Swift.min(max, state.count)))
            while result.count < max, let item = state.popFirst() {
                result.append(item)
            }
            return result
        }
        return taken.filter { !passEnd($0) }
    }

    private let partitionEnd = Mutex<(@Sendable (KafkaTopicPartition, Int64) -> Void)?>(nil)

    func setPartitionEndHandler(_ handler: @escaping @Sendable (KafkaTopicPartition, Int64) -> Void) {
        partitionEnd.withLock { $0 = handler }
    }

    /// True (after telling the handler) when `message` is a partition-end marker.
    private func passEnd(_ message: KafkaConsumerMessage) -> Bool {
        guard message.isEndOfPartition else { return false }
        partitionEnd.withLock { $0 }?(message.topicPartition, message.offset)
        return true
    }

    /// The next message, waiting for one; `nil` once finished (or the task is cancelled).
    /// Partition-end markers are passed (their handler called), never returned.
    func next() async -> KafkaConsumerMessage? {
        while let message = await nextItem() {
            if !passEnd(message) { return message }
        }
        return nil
    }

    private func nextItem() async -> KafkaConsumerMessage? {
        if let ready = state.withLock({ $0.popFirst() }) { return ready }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<KafkaConsumerMessage?, Never>) in
                let immediate: KafkaConsumerMessage?? = state.withLock { state in
                    if let item = state.popFirst() { return .some(item) }
                    if state.finished || Task.isCancelled { return .some(nil) }
                    state.waiter = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Ends the sequence: readers get the remaining messages, then `nil`.
    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
