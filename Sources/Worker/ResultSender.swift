import Kafka
import Logging
import Synchronization
import Tracing

/// Produces the records that answer one request (its result, or its dead letter and error
/// result) and, once the broker has acknowledged all of them, marks the request answered in
/// the `OffsetTracker` and stores the partition's new position.
///
/// What a failed delivery means decides what happens next (`KafkaError.disposition`):
/// - retriable (broker away, leader moving, queue full): try again after a backoff that
///   doubles up to `maxBackoff`; the request stays unanswered meanwhile, so its offset is
///   not committed and nothing is lost;
/// - permanent (invalid or unknown topic, not authorized, too large): retrying cannot help,
///   so a refused result becomes an `UNDELIVERABLE` dead letter, and a refused dead letter
///   is sent again smaller (`DeadLetterComposer.Form`); the partition moves on;
/// - fatal (the producer is unusable), or a dead-letter topic that refuses even the smallest
///   dead letter: `onFatal`, the worker stops without committing past the request.
/// A delivery failing because the producer is closing leaves the request unanswered.
final class ResultSender: Sendable {
    private let producer: KafkaProducer
    private let tracker: OffsetTracker
    private let consumer: KafkaConsumer
    private let budget: InFlightBudget
    private let deadLetters: DeadLetterComposer
    private let metrics: WorkerMetrics
    private let counts: WorkerCounts
    private let logger: Logger
    private let maxBackoff: Duration
    private let tracing: WorkerTracing
    private let onFatal: @Sendable (String) -> Void

    init(
        producer: KafkaProducer, tracker: OffsetTracker, consumer: KafkaConsumer, budget: InFlightBudget,
        deadLetters: DeadLetterComposer, metrics: WorkerMetrics, counts: WorkerCounts, logger: Logger,
        maxBackoff: Duration, tracing: WorkerTracing, onFatal: @escaping @Sendable (String) -> Void
    ) {
        self.producer = producer
        self.tracker = tracker
        self.consumer = consumer
        self.budget = budget
        self.deadLetters = deadLetters
        self.metrics = metrics
        self.counts = counts
        self.logger = logger
        self.maxBackoff = maxBackoff
        self.tracing = tracing
        self.onFatal = onFatal
    }

    /// Sends `outgoing` for `source`; an empty list answers it immediately. `span` (the
    /// request's process span) parents the send spans and ends when the request is answered.
    func send(_ outgoing: [Outgoing], for source: KafkaConsumerMessage, read: ContinuousClock.Instant, span: (any Span)? = nil) {
        guard !outgoing.isEmpty else {
            answered(source, read: read, span: span)
            return
        }
        let remaining = Remaining(outgoing.count)
        for item in outgoing {
            deliver(item, source: source, attempt: 1, parent: span) { [self] in
                if remaining.decrement() { answered(source, read: read, span: span) }
            }
        }
    }

    /// The delay before attempt `attempt + 1`: 10 ms doubling, at most `maxBackoff`.
    static func backoff(afterAttempt attempt: Int, max: Duration) -> Duration {
        let doubled = Duration.milliseconds(10) * (1 << Swift.min(Swift.max(attempt - 1, 0), 20))
        return Swift.min(doubled, max)
    }

    private func deliver(
        _ item: Outgoing, source: KafkaConsumerMessage, attempt: Int, parent: (any Span)?, then done: @escaping @Sendable () -> Void
    ) {
        var message = item.message
        let span = tracing.send(&message, parent: parent)
        do {
            try producer.produce(message) { [self] result in
                switch result {
                case .success:
                    span.end()
                    metrics.produced.increment()
                    if case .deadLetter(let reason, _) = item.role { deadLettered(reason) }
                    done()
                case .failure(let error):
                    WorkerTracing.fail(span, error.name.isEmpty ? "\(error.kind)" : error.name)
                    span.end()
                    failed(item, source: source, attempt: attempt, error: error, parent: parent, then: done)
                }
            }
        } catch {
            WorkerTracing.fail(span, error.name.isEmpty ? "\(error.kind)" : error.name)
            span.end()
            failed(item, source: source, attempt: attempt, error: error, parent: parent, then: done)
        }
    }

    private func failed(
        _ item: Outgoing, source: KafkaConsumerMessage, attempt: Int, error: KafkaError, parent: (any Span)?,
        then done: @escaping @Sendable () -> Void
    ) {
        if error.kind == .closed {
            logger.debug("delivery abandoned: the producer is closing", metadata: ["topic": "\(item.message.topic)"])
            return
        }
        let coordinates = "\(source.topic)/\(source.partition)/\(source.offset)"
        switch error.disposition {
        case .retriable:
            metrics.deliveryRetries.increment()
            if attempt == 1 || attempt.isMultiple(of: 10) {
                logger.warning(
                    "delivery failed, retrying",
                    metadata: ["topic": "\(item.message.topic)", "source": "\(coordinates)", "attempt": "\(attempt)", "error": "\(error)"])
            }
            let delay = Self.backoff(afterAttempt: attempt, max: maxBackoff)
            Task {
                try? await Task.sleep(for: delay)
                deliver(item, source: source, attempt: attempt + 1, parent: parent, then: done)
            }
        case .fatal:
            onFatal("producer: \(error)")
        case .permanent:
            switch item.role {
            case .result:
                metrics.undeliverable.increment()
                let reason = DeadLetterReason.undeliverable(topic: item.message.topic, error: error)
                WorkerTracing.fail(parent, reason.code)
                logger.error("result refused by the broker; dead-lettering the request", metadata: ["source": "\(coordinates)", "error": "\(error)"])
                let letter = Outgoing(role: .deadLetter(reason, .whole), message: deadLetters.compose(for: source, reason: reason))
                deliver(letter, source: source, attempt: 1, parent: parent, then: done)
            case .deadLetter(let reason, let form):
                guard let smaller = form.smaller else {
                    onFatal("the dead-letter topic refuses even a minimal dead letter (\(coordinates)): \(error)")
                    return
                }
                logger.warning(
                    "dead letter refused; sending a smaller one",
                    metadata: ["source": "\(coordinates)", "form": "\(smaller)", "error": "\(error)"])
                let letter = Outgoing(role: .deadLetter(reason, smaller), message: deadLetters.compose(for: source, reason: reason, form: smaller))
                deliver(letter, source: source, attempt: 1, parent: parent, then: done)
            }
        }
    }

    private func deadLettered(_ reason: DeadLetterReason) {
        metrics.deadLettered(code: reason.code)
        counts.deadLettered.add(1, ordering: .relaxed)
    }

    private func answered(_ source: KafkaConsumerMessage, read: ContinuousClock.Instant, span: (any Span)?) {
        span?.end()
        metrics.endToEndSeconds.record(seconds(ContinuousClock.now - read))
        counts.answered.add(1, ordering: .relaxed)
        budget.release(source.bufferedSize)
        tracker.complete(source) { position in
            do {
                try consumer.storeOffsets([KafkaTopicPartition(topic: source.topic, partition: source.partition, offset: position)])
            } catch {
                // The partition was revoked meanwhile: its next owner re-reads from the last commit.
                logger.debug("offset not stored", metadata: ["partition": "\(source.topicPartition)", "error": "\(error)"])
            }
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
