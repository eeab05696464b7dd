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
