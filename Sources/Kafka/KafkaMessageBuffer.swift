import Synchronization

/// The queue between a consumer's poll thread and the application.
///
/// Unlike an `AsyncStream`, it can drop the buffered messages of revoked partitions, which
/// their next owner re-reads; and its size drives the consumer's flow control.
final class KafkaMessageBuffer: Sendable {
    private struct State: ~Copyable {
        var items: [KafkaConsumerMessage] = []
        var head = 0
        var waiter: CheckedContinuation<KafkaConsumerMessage?, Never>?
        var finished = false

        var count: Int { items.count - head }

        mutating func popFirst() -> KafkaConsumerMessage? {
            guard head < items.count else { return nil }
            let item = items[head]
            head += 1
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

    /// Adds messages in order, handing the first straight to a waiting reader if there is one.
    func append(contentsOf messages: [KafkaConsumerMessage]) {
        guard let first = messages.first else { return }
        let waiter: CheckedContinuation<KafkaConsumerMessage?, Never>? = state.withLock { state in
            guard !state.finished else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                state.items.append(contentsOf: messages.dropFirst())
                return waiter
            }
            state.items.append(contentsOf: messages)
            return nil
        }
        waiter?.resume(returning: first)
    }

    /// Removes the buffered messages of the given partitions; returns how many.
    @discardableResult
    func removeAll(of partitions: Set<KafkaTopicPartition>) -> Int {
        state.withLock { state in
            let before = state.count
            let kept = state.items[state.head...].filter { !partitions.contains($0.topicPartition) }
            state.items = Array(kept)
            state.head = 0
            return before - kept.count
        }
    }

    /// Up to `max` messages that are already here, without waiting.
    func takeAvailable(max: Int) -> [KafkaConsumerMessage] {
        state.withLock { state in
            var result: [KafkaConsumerMessage] = []
            result.reserveCapacity(min(max, state.count))
            while result.count < max, let item = state.popFirst() {
                result.append(item)
            }
            return result
        }
    }

    /// The next message, waiting for one; `nil` once finished (or the task is cancelled).
    func next() async -> KafkaConsumerMessage? {
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

/// The messages of a `KafkaConsumer`, in partition order, as an async sequence.
/// Iterate it from one task at a time.
public struct KafkaConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerMessage
    let buffer: KafkaMessageBuffer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: KafkaMessageBuffer
        public mutating func next() async -> KafkaConsumerMessage? {
            await buffer.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(buffer: buffer)
    }
}
