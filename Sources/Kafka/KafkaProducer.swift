import CRdKafka
import Foundation
import Logging

/// A Kafka producer over librdkafka: idempotent by default (acks=all, no duplicates from
/// retries), with a per-message delivery result awaitable from async code.
///
/// A dedicated thread serves delivery reports (`rd_kafka_poll`). Every failure carries a
/// `KafkaError.disposition`: retry it, give up on the message, or (fatal) stop using the
/// producer, whose `fatalError` then says why. `close()` flushes; no call outlives the
/// librdkafka handle (calls made once `close()` has begun throw `KafkaError.closed`).
public final class KafkaProducer: Sendable {
    /// Errors librdkafka reports outside any call (connection trouble, which it recovers
    /// from by itself, and fatal errors). Bounded: keeps the newest `errorBufferSize` when
    /// nobody reads it.
    public let errors: AsyncStream<KafkaError>
    /// How many unread `errors` are kept.
    public static let errorBufferSize = 100

    private let configuration: KafkaProducerConfiguration
    private let client: RdKafkaClient
    private let errorContinuation: AsyncStream<KafkaError>.Continuation
    private let logger: Logger
    private let shutdown = PollThreadShutdown()
    private let deliveries = PendingDeliveries()
    private let fatal = FatalErrorLatch()

    public init(configuration: KafkaProducerConfiguration, logger: Logger = Logger(label: "duoguard.kafka")) throws(KafkaError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        let (stream, continuation) = AsyncStream<KafkaError>.makeStream(
            bufferingPolicy: .bufferingNewest(Self.errorBufferSize))
        self.errors = stream
        self.errorContinuation = continuation
        let callbacks = RdKafkaCallbacks(logger: logger)
        callbacks.onError = { [continuation, fatal, logger] error in
            if error.isFatal, fatal.record(error) {
                logger.error("Kafka producer fatal error: \(error)")
            }
            continuation.yield(error)
        }
        callbacks.onDelivery = { [deliveries] handle, message in
            guard let id = message.pointee._private.map({ UInt(bitPattern: $0) }) else { return }
            guard let completion = deliveries.take(id) else { return }
            completion(RdKafkaMessage.deliveryResult(message, handle: handle))
        }
        self.client = try RdKafkaClient(
            kind: .producer, properties: configuration.librdkafkaProperties, callbacks: callbacks)
        logger.debug("Kafka producer created", metadata: ["config": "\(KafkaConfiguration.redacted(configuration.librdkafkaProperties))"])
        let thread = Thread { [self] in
            self.pollLoop()
        }
        thread.name = "kafka-producer-poll"
        thread.start()
    }

    /// The fatal error librdkafka raised on this producer, if any (set once). After one,
    /// every delivery fails: stop producing and restart the process.
    public var fatalError: KafkaError? { fatal.error }

    /// Waits until the producer has a fatal error and returns it; returns `nil` when the
    /// producer closes without one, or when the calling task is cancelled.
    public func waitForFatalError() async -> KafkaError? {
        await fatal.wait()
    }

    /// Enqueues `message`; `onDelivery` is called once, from a librdkafka thread, with where
    /// the broker stored it or why it failed. Throws, without calling `onDelivery`, when the
    /// message cannot be enqueued: an invalid topic name or a message larger than
    /// `maxMessageBytes` (permanent), a full queue (`_QUEUE_FULL`, retriable), a fatal
    /// producer, or a closing one (`KafkaError.closed`).
    public func produce(
        _ message: KafkaProducerMessage,
        onDelivery: @escaping @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void
    ) throws(KafkaError) {
        if configuration.validatesTopicNames { try KafkaTopicName.validate(message.topic) }
        try client.withHandle { [deliveries] handle throws(KafkaError) in
            let headers = RdKafkaMessage.makeHeaders(message.headers)
            let id = deliveries.register(onDelivery)
            let code = Self.withOptionalBytes(message.value) { value, valueCount in
                Self.withOptionalBytes(message.key) { key, keyCount in
                    duoguard_rd_kafka_produce(
                        handle, message.topic, message.partition ?? -1,
                        value, valueCount, key, keyCount, headers, UnsafeMutableRawPointer(bitPattern: id))
                }
            }
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                _ = deliveries.take(id)
                if let headers { rd_kafka_headers_destroy(headers) }
                var error = KafkaError(code: code, context: "produce to \(message.topic)")
                if RdKafkaClient.fatalError(of: handle) != nil { error.markFatal() }
                throw error
            }
        }
    }

    /// Produces `message` and waits until the broker has acknowledged it (or it failed).
    /// A full local queue is waited out (up to `deliveryTimeout`, or until the task is
    /// cancelled; then the `_QUEUE_FULL` error is thrown).
    @discardableResult
    public func send(_ message: KafkaProducerMessage) async throws(KafkaError) -> KafkaDeliveryReport {
        let deadline = ContinuousClock.now + configuration.deliveryTimeout
        while true {
            let result: Result<KafkaDeliveryReport, KafkaError> = await withCheckedContinuation { continuation in
                do throws(KafkaError) {
                    try produce(message) { continuation.resume(returning: $0) }
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            if case .failure(let error) = result, error.code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue,
                ContinuousClock.now < deadline, !Task.isCancelled
            {
                try? await Task.sleep(for: .milliseconds(5))
                continue
            }
            return try result.get()
        }
    }

    /// Waits until every enqueued message is delivered or failed, up to `timeout`. Allowed
    /// while the producer is closing (close flushes with it).
    public func flush(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await client.blocking(.untilDestroyed) { handle throws(KafkaError) in
            let code = rd_kafka_flush(handle, Int32(clamping: timeout.milliseconds))
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: code, context: "flush (\(rd_kafka_outq_len(handle)) messages still queued)")
            }
        }
    }

    /// Messages enqueued and not yet delivered (librdkafka's queue and in-flight requests);
    /// 0 once the producer is closed.
    public var queuedCount: Int {
        (try? client.withHandle(.untilDestroyed) { handle in Int(rd_kafka_outq_len(handle)) }) ?? 0
    }

    /// Topics and partition counts known to the cluster; fails within `timeout` when no
    /// broker answers.
    public func topics(timeout: Duration? = nil) async throws(KafkaError) -> [String: Int] {
        try await client.topics(timeout: timeout ?? configuration.client.connectTimeout)
    }

    /// Stops accepting messages (`produce` throws `KafkaError.closed` from now on), flushes
    /// what is queued (up to `flushTimeout`), stops the delivery thread and frees the client.
    /// Messages still undelivered then fail with `_PURGE_QUEUE`/`_PURGE_INFLIGHT`/`_DESTROY`
    /// (permanent). Bounded by `flushTimeout` plus `closeMargin`, even should librdkafka not
    /// return from its teardown (then logged). Calling it again waits for the first close.
    public func close(flushTimeout: Duration = .seconds(30)) async {
        if client.lifetime.beginClosing() {
            do {
                try await flush(timeout: flushTimeout)
            } catch {
                logger.warning("closing producer with undelivered messages: \(error)")
            }
        }
        if await !shutdown.requestStopAndWait(atMost: Self.closeMargin) {
            logger.error("Kafka producer not closed within \(Self.closeMargin) after its flush; leaving its handle to the poll thread")
        }
    }

    /// How long `close()` waits, after the flush, for the purge (2 s at most, `pollLoop`) and
    /// librdkafka's teardown; part of the worker's shutdown bound (`ShutdownBound`).
    public static let closeMargin: Duration = .seconds(5)

    /// Makes librdkafka raise a fatal error on this producer, through its real fatal-error
    /// path (`rd_kafka_test_fatal_error`), for tests: a real one needs a misbehaving broker.
    func raiseFatalErrorForTesting(code: Int32, reason: String) throws(KafkaError) {
        try client.raiseFatalErrorForTesting(code: code, reason: reason)
    }

    private func pollLoop() {
        let handle = client.pollThreadHandle
        let timeout = Int32(clamping: configuration.pollTimeout.milliseconds)
        while !shutdown.isStopRequested {
            rd_kafka_poll(handle, timeout)
        }
        // No produce or flush can be in flight past this point.
        client.lifetime.closeAndWaitForLeases()
        // Fail what is left, and serve those reports (bounded: leftovers are failed below).
        rd_kafka_purge(handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        let deadline = ContinuousClock.now + .seconds(2)
        repeat {
            rd_kafka_poll(handle, 10)
        } while rd_kafka_outq_len(handle) > 0 && ContinuousClock.now < deadline
        // Every callback runs once: what librdkafka did not report fails here.
        deliveries.failAll(with: KafkaError(code: RD_KAFKA_RESP_ERR__DESTROY, context: "producer closed before delivery"))
        fatal.finish()
        errorContinuation.finish()
        client.destroy()
        shutdown.markClosed()
    }

    private static func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
        guard let bytes else { return body(nil, 0) }
        return bytes.withUnsafeBytes { body($0.baseAddress, $0.count) }
    }
}
