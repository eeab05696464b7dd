import Synchronization

/// The events of a `KafkaConsumer`. Iterating them tells the consumer that the application
/// handles revokes, so revokes wait for its acknowledgement.
public struct KafkaConsumerEvents: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerEvent
    let stream: AsyncStream<KafkaConsumerEvent>
    let listening: Listening

    final class Listening: Sendable {
        private let flag = Atomic<Bool>(false)
        var isListening: Bool { flag.load(ordering: .acquiring) }
        func set() { flag.store(true, ordering: .releasing) }
    }

    public func makeAsyncIterator() -> AsyncStream<KafkaConsumerEvent>.AsyncIterator {
        listening.set()
        return stream.makeAsyncIterator()
    }
}
