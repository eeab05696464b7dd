import Kafka
import Logging
import Synchronization
import Tracing

/// Produces the records that answer one request (its result, or its dead letter and error
/// result) and, once the broker has acknowledged all of them, marks the request answered in
/// the `RequestLedger` (which stores the partition's new position) and only then releases its
/// bytes: a reader that sees the budget free sees the ledger up to date too.
///
/// What a failed delivery means decides what happens next (`DeliveryDecision`, from
/// `KafkaError.disposition`): retriable errors are retried after a backoff (the request stays
/// unanswered meanwhile, so nothing is lost), a result refused for good becomes an
/// `UNDELIVERABLE` dead letter, a refused dead letter is sent again smaller, and a fatal
/// error (or a dead-letter topic refusing even the smallest one) stops the worker.
final class ResultSender: Sendable {
    private let producer: any RecordSink
    private let ledger: RequestLedger
    private let offsets: any OffsetStore
    private let budget: InFlightBudget
    private let deadLetters: DeadLetterComposer
    private let metrics: WorkerMetrics
    private let counts: WorkerCounts
    private let logger: Logger
    private let maxBackoff: Duration
    private let tracing: WorkerTracing
    private let clock: any Clock<Duration>
    private let onFatal: @Sendable (String) -> Void

    init(
        producer: any RecordSink, ledger: RequestLedger, offsets: any OffsetStore, budget: InFlightBudget,
        deadLetters: DeadLetterComposer, metrics: WorkerMetrics, counts: WorkerCounts, logger: Logger,
        maxBackoff: Duration, tracing: WorkerTracing, clock: any Clock<Duration> = ContinuousClock(),
        onFatal: @escaping @Sendable (String) -> Void
    ) {
        self.producer = producer
        self.ledger = ledger
        self.offsets = offsets
        self.budget = budget
        self.deadLetters = deadLetters
        self.metrics = metrics
        self.counts = counts
        self.logger = logger
        self.maxBackoff = maxBackoff
        self.tracing = tracing
        self.clock = clock
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

    private func deliver(
        _ item: Outgoing, source: KafkaConsumerMessage, attempt: Int, parent: (any Span)?, then done: @escaping @Sendable () -> Void
    ) {
        var message = item.message
        let span = tracing.send(&message, parent: parent)
        do {
            try producer.produce(message, delivered: { [self] result in
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
            })
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
        let coordinates = "\(source.topic)/\(source.partition)/\(source.offset)"
        switch DeliveryDecision.after(error, delivering: item, for: source, attempt: attempt, maxBackoff: maxBackoff, deadLetters: deadLetters) {
        case .abandon:
            logger.debug("delivery abandoned: the producer is closing", metadata: ["topic": "\(item.message.topic)"])
        case .retry(let delay):
            metrics.deliveryRetries.increment()
            if attempt == 1 || attempt.isMultiple(of: 10) {
                logger.warning(
                    "delivery failed, retrying",
                    metadata: ["topic": "\(item.message.topic)", "source": "\(coordinates)", "attempt": "\(attempt)", "error": "\(error)"])
            }
            Task {
                try? await clock.sleep(for: delay, tolerance: nil)
                deliver(item, source: source, attempt: attempt + 1, parent: parent, then: done)
            }
        case .fatal(let reason):
            onFatal(reason)
        case .replace(let letter):
            if case .result = item.role {
                metrics.undeliverable.increment()
                if case .deadLetter(let reason, _) = letter.role { WorkerTracing.fail(parent, reason.code) }
                logger.error("result refused by the broker; dead-lettering the request", metadata: ["source": "\(coordinates)", "error": "\(error)"])
            } else {
                logger.warning("dead letter refused; sending a smaller one", metadata: ["source": "\(coordinates)", "error": "\(error)"])
            }
            deliver(letter, source: source, attempt: 1, parent: parent, then: done)
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
        ledger.answered(source) { [offsets, logger] position in
            do {
                try offsets.store(source.topicPartition, epoch: source.assignmentEpoch, position: position)
            } catch {
                // The partition was revoked meanwhile: its next owner re-reads from the last commit.
                logger.debug("offset not stored", metadata: ["partition": "\(source.topicPartition)", "error": "\(error)"])
            }
        }
        // After the ledger (issue 17 problem 2): intake, woken by the freed bytes, must not
        // find the ledger still counting this request.
        budget.release(source.bufferedSize)
    }

    /// Counts down the deliveries of one request.
    private final class Remaining: Sendable {
        private let count: Atomic<Int>
        init(_ count: Int) { self.count = Atomic(count) }
        /// True for the call that reaches zero.
        func decrement() -> Bool { count.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 }
    }
}
