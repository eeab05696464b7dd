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
    private let maxRetryAge: Duration
    private let tracing: WorkerTracing
    private let clock: any Clock<Duration>
    private let onFatal: @Sendable (String) -> Void
    private let retries: PendingRetries

    init(
        producer: any RecordSink, ledger: RequestLedger, offsets: any OffsetStore, budget: InFlightBudget,
        deadLetters: DeadLetterComposer, metrics: WorkerMetrics, counts: WorkerCounts, logger: Logger,
        maxBackoff: Duration, maxRetryAge: Duration = .seconds(300), tracing: WorkerTracing,
        clock: any Clock<Duration> = ContinuousClock(), retryExecutor: (any TaskExecutor)? = nil,
        onFatal: @escaping @Sendable (String) -> Void
    ) {
        retries = PendingRetries(executor: retryExecutor)
        self.producer = producer
        self.ledger = ledger
        self.offsets = offsets
        self.budget = budget
        self.deadLetters = deadLetters
        self.metrics = metrics
        self.counts = counts
        self.logger = logger
        self.maxBackoff = maxBackoff
        self.maxRetryAge = maxRetryAge
        self.tracing = tracing
        self.clock = clock
        self.onFatal = onFatal
    }

    /// Sends `outgoing` for `source`; an empty list answers it immediately. `span` (the
    /// request's process span) parents the send spans and ends when the request is answered.
    func send(_ outgoing: [Outgoing], for source: KafkaConsumerMessage, read: ContinuousClock.Instant, span: (any Span)? = nil) {
        let request = InFlightRequest(source: source, read: read, span: span, records: outgoing.count)
        guard !outgoing.isEmpty else {
            answered(request)
            return
        }
        for item in outgoing { deliver(item, request, attempt: 1, failingSince: nil) }
    }

    /// Retries waiting for their next attempt.
    var pendingRetryCount: Int { retries.count }

    /// Cancels the waiting retries of requests of `assignments` (all when `nil`): revoke,
    /// loss, stop. Their requests are handed back (positions frozen below them, their bytes
    /// released); the partition's next reader answers them.
    func cancelRetries(of assignments: Set<RequestLedger.Assignment>?) {
        retries.cancel { assignments?.contains($0) ?? true }
    }

    private func deliver(_ item: Outgoing, _ request: InFlightRequest, attempt: Int, failingSince: ContinuousClock.Instant?) {
        var message = item.message
        let span = tracing.send(&message, parent: request.span)
        do {
            try producer.produce(message, delivered: { [self] result in
                switch result {
                case .success:
                    span.end()
                    metrics.produced.increment()
                    if case .deadLetter(let reason, _) = item.role { deadLettered(reason) }
                    if request.recordDelivered() { answered(request) }
                case .failure(let error):
                    WorkerTracing.fail(span, error.name.isEmpty ? "\(error.kind)" : error.name)
                    span.end()
                    failed(item, request, attempt: attempt, failingSince: failingSince, error: error)
                }
            })
        } catch {
            WorkerTracing.fail(span, error.name.isEmpty ? "\(error.kind)" : error.name)
            span.end()
            failed(item, request, attempt: attempt, failingSince: failingSince, error: error)
        }
    }

    private func failed(
        _ item: Outgoing, _ request: InFlightRequest, attempt: Int, failingSince: ContinuousClock.Instant?, error: KafkaError
    ) {
        let source = request.source
        let coordinates = "\(source.topic)/\(source.partition)/\(source.offset)"
        let since = failingSince ?? .now
        let decision = DeliveryDecision.after(
            error, delivering: item, for: source, attempt: attempt, failingFor: .now - since, maxRetryAge: maxRetryAge,
            maxBackoff: maxBackoff, deadLetters: deadLetters)
        switch decision {
        case .abandon:
            logger.debug("delivery abandoned: the producer is closing", metadata: ["topic": "\(item.message.topic)"])
        case .retry(let delay):
            // Its assignment is over (revoked, lost, stopped): no retry outlives it.
            guard ledger.isAwaiting(RequestLedger.Assignment(of: source), offset: source.offset) else {
                handBack(request)
                return
            }
            metrics.deliveryRetries.increment()
            if attempt == 1 || attempt.isMultiple(of: 10) {
                logger.warning(
                    "delivery failed, retrying",
                    metadata: ["topic": "\(item.message.topic)", "source": "\(coordinates)", "attempt": "\(attempt)", "error": "\(error)"])
            }
            retries.schedule(
                RequestLedger.Assignment(of: source), after: delay, clock: clock,
                attempt: { [self] in deliver(item, request, attempt: attempt + 1, failingSince: since) },
                onCancel: { [self] in handBack(request) })
        case .fatal(let reason):
            onFatal(reason)
        case .replace(let letter):
            if case .result = item.role {
                metrics.undeliverable.increment()
                if case .deadLetter(let reason, _) = letter.role { WorkerTracing.fail(request.span, reason.code) }
                logger.error("result undeliverable; dead-lettering the request", metadata: ["source": "\(coordinates)", "error": "\(error)"])
            } else {
                logger.warning("dead letter refused; sending a smaller one", metadata: ["source": "\(coordinates)", "error": "\(error)"])
            }
            deliver(letter, request, attempt: 1, failingSince: nil)
        }
    }

    private func deadLettered(_ reason: DeadLetterReason) {
        metrics.deadLettered(code: reason.code)
        counts.deadLettered.add(1, ordering: .relaxed)
    }

    private func answered(_ request: InFlightRequest) {
        guard request.settle() else { return }
        let source = request.source
        request.span?.end()
        metrics.endToEndSeconds.record(seconds(ContinuousClock.now - request.read))
        metrics.streamStages.record(.deliver, from: request.handed, to: .now)
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

    /// Gives a request up unanswered (its retry was cancelled, or its assignment is over).
    private func handBack(_ request: InFlightRequest) {
        guard request.settle() else { return }
        ledger.handBack(request.source)
        budget.release(request.source.bufferedSize)
        WorkerTracing.fail(request.span, "abandoned")
        request.span?.end()
    }

    /// One request being answered: its records still to be acknowledged, and whether it is
    /// settled (answered or handed back: exactly once, whichever comes first).
    private final class InFlightRequest: Sendable {
        let source: KafkaConsumerMessage
        let read: ContinuousClock.Instant
        /// When its records were handed to the producer (``StreamStageMetrics``' `deliver`).
        let handed = ContinuousClock.now
        let span: (any Span)?
        private let remaining: Atomic<Int>
        private let settled = Atomic<Bool>(false)

        init(source: KafkaConsumerMessage, read: ContinuousClock.Instant, span: (any Span)?, records: Int) {
            self.source = source
            self.read = read
            self.span = span
            remaining = Atomic(records)
        }

        /// True for the acknowledgement that completes the request.
        func recordDelivered() -> Bool { remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 }

        /// True for the first caller only.
        func settle() -> Bool { !settled.exchange(true, ordering: .acquiringAndReleasing) }
    }
}
