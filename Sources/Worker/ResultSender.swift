import Kafka
import Logging
import Synchronization

/// Produces the messages that answer one request (its result, or its dead letter and error
/// result) and, once the broker has acknowledged all of them, marks the request answered in
/// the `OffsetTracker` and stores the partition's new position.
///
/// A failed delivery is retried (the idempotent producer already retried inside its
/// delivery timeout); until it succeeds the request stays unanswered, so its offset is never
/// committed: nothing is lost, at worst it is answered again after a restart.
final class ResultSender: Sendable {
    private let producer: KafkaProducer
    private let tracker: OffsetTracker
    private let consumer: KafkaConsumer
    private let metrics: WorkerMetrics
    private let counts: WorkerCounts
    private let logger: Logger

    init(
        producer: KafkaProducer, tracker: OffsetTracker, consumer: KafkaConsumer, metrics: WorkerMetrics,
        counts: WorkerCounts, logger: Logger
    ) {
        self.producer = producer
        self.tracker = tracker
        self.consumer = consumer
        self.metrics = metrics
        self.counts = counts
        self.logger = logger
    }

    /// Sends `outgoing` for `message`; an empty list answers it immediately.
    func send(_ outgoing: [KafkaProducerMessage], for message: KafkaConsumerMessage, read: ContinuousClock.Instant) {
        let remaining = Remaining(outgoing.count)
        guard !outgoing.isEmpty else {
            answered(message, read: read)
            return
        }
        for item in outgoing {
            deliver(item, attempt: 1) { [self] in
                if remaining.decrement() { answered(message, read: read) }
            }
        }
    }

    private func deliver(_ item: KafkaProducerMessage, attempt: Int, then done: @escaping @Sendable () -> Void) {
        do {
            try producer.produce(item) { [self] result in
                switch result {
                case .success:
                    metrics.produced.increment()
                    done()
                case .failure(let error):
                    metrics.failedResults.increment()
                    logger.error("delivery failed, retrying", metadata: ["topic": "\(item.topic)", "attempt": "\(attempt)", "error": "\(error)"])
                    retry(item, attempt: attempt, then: done)
                }
            }
        } catch {
            // Queue full or transient: try again shortly.
            retry(item, attempt: attempt, then: done)
        }
    }

    private func retry(_ item: KafkaProducerMessage, attempt: Int, then done: @escaping @Sendable () -> Void) {
        Task {
            try? await Task.sleep(for: .milliseconds(min(1000, 10 * attempt)))
            deliver(item, attempt: attempt + 1, then: done)
        }
    }

    private func answered(_ message: KafkaConsumerMessage, read: ContinuousClock.Instant) {
        metrics.endToEndSeconds.record(seconds(ContinuousClock.now - read))
        counts.answered.add(1, ordering: .relaxed)
        guard let position = tracker.complete(message.topicPartition, offset: message.offset) else { return }
        do {
            try consumer.storeOffsets([KafkaTopicPartition(topic: message.topic, partition: message.partition, offset: position)])
        } catch {
            // The partition was revoked meanwhile: its next owner re-reads from the last commit.
            logger.debug("offset not stored", metadata: ["partition": "\(message.topicPartition)", "error": "\(error)"])
        }
    }

    /// Counts down the deliveries of one request.
    private final class Remaining: Sendable {
        private let count: Atomic<Int>
        init(_ count: Int) { self.count = Atomic(count) }
        /// True for the call that reaches zero.
        func decrement() -> Bool { count.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 }
    }
}
