import CRdKafka
import Foundation
import Logging

/// A Kafka producer over librdkafka: idempotent by default (acks=all, no duplicates from
/// retries), with a per-message delivery result awaitable from async code.
///
/// A dedicated thread serves delivery reports (`rd_kafka_poll`). `close()` flushes.
public final class KafkaProducer: Sendable {
    /// Errors librdkafka reports outside any call (e.g. a fatal idempotence error).
    public let errors: AsyncStream<KafkaError>

    private let configuration: KafkaProducerConfiguration
    private let client: RdKafkaClient
    private let errorContinuation: AsyncStream<KafkaError>.Continuation
    private let logger: Logger
    private let shutdown = PollThreadShutdown()

    /// The closure a delivery report completes; boxed to travel as librdkafka's msg_opaque.
    private final class Delivery: Sendable {
        let completion: @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void
        init(_ completion: @escaping @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void) {
            self.completion = completion
        }
    }

    public init(configuration: KafkaProducerConfiguration, logger: Logger = Logger(label: "duoguard.kafka")) throws(KafkaError) {
        self.configuration = configuration
        self.logger = logger
        let (stream, continuation) = AsyncStream<KafkaError>.makeStream()
        self.errors = stream
        self.errorContinuation = continuation
        let callbacks = RdKafkaCallbacks(logger: logger)
        callbacks.onError = { [continuation] error in
            continuation.yield(error)
        }
        callbacks.onDelivery = { message in
            KafkaProducer.delivered(message)
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

    /// Enqueues `message`; `onDelivery` is called once, from the producer's thread, with where
    /// the broker stored it or why it failed. Throws only when it cannot be enqueued
    /// (`isRetriable` for a full queue).
    public func produce(
        _ message: KafkaProducerMessage,
        onDelivery: @escaping @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void
    ) throws(KafkaError) {
        if shutdown.isStopRequested { throw KafkaError.closed }
        var headers: OpaquePointer?
        if !message.headers.isEmpty {
            headers = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                if let value = header.value {
                    value.withUnsafeBytes { bytes in
                        _ = rd_kafka_header_add(headers, header.key, -1, bytes.baseAddress, bytes.count)
                    }
                } else {
                    _ = rd_kafka_header_add(headers, header.key, -1, nil, 0)
                }
            }
        }
        let delivery = Unmanaged.passRetained(Delivery(onDelivery))
        let code = Self.withOptionalBytes(message.value) { value, valueCount in
            Self.withOptionalBytes(message.key) { key, keyCount in
                duoguard_rd_kafka_produce(
                    client.handle, message.topic, message.partition ?? -1,
                    value, valueCount, key, keyCount, headers, delivery.toOpaque())
            }
        }
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            delivery.release()
            if let headers { rd_kafka_headers_destroy(headers) }
            throw KafkaError(code: code, context: "produce to \(message.topic)")
        }
    }

    /// Produces `message` and waits until the broker has acknowledged it (or it failed).
    /// A full local queue is waited out, not reported.
    @discardableResult
    public func send(_ message: KafkaProducerMessage) async throws(KafkaError) -> KafkaDeliveryReport {
        let result: Result<KafkaDeliveryReport, KafkaError> = await withCheckedContinuation { continuation in
            Task {
                while true {
                    do throws(KafkaError) {
                        try produce(message) { continuation.resume(returning: $0) }
                        return
                    } catch where error.code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue {
                        try? await Task.sleep(for: .milliseconds(5))
                    } catch {
                        continuation.resume(returning: .failure(error))
                        return
                    }
                }
            }
        }
        return try result.get()
    }

    /// Waits until every enqueued message is delivered or failed, up to `timeout`.
    public func flush(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        let code = try await client.blocking { [client] () throws(KafkaError) in
            rd_kafka_flush(client.handle, Int32(clamping: timeout.milliseconds))
        }
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: code, context: "flush (\(rd_kafka_outq_len(client.handle)) messages still queued)")
        }
    }

    /// Messages enqueued and not yet delivered.
    public var queuedCount: Int {
        Int(rd_kafka_outq_len(client.handle))
    }

    /// Topics and partition counts known to the cluster; fails within `timeout` when no
    /// broker answers.
    public func topics(timeout: Duration? = nil) async throws(KafkaError) -> [String: Int] {
        let limit = timeout ?? configuration.client.connectTimeout
        return try await client.blocking { [client] () throws(KafkaError) in
            try client.topics(timeout: limit)
        }
    }

    /// Flushes (up to `flushTimeout`), stops the delivery thread and frees the client.
    /// Messages still undelivered then fail with `_PURGE_QUEUE`/`_DESTROY`.
    public func close(flushTimeout: Duration = .seconds(30)) async {
        do {
            try await flush(timeout: flushTimeout)
        } catch {
            logger.warning("closing producer with undelivered messages: \(error)")
        }
        await shutdown.requestStopAndWait()
    }

    private func pollLoop() {
        let timeout = Int32(clamping: configuration.pollTimeout.milliseconds)
        while !shutdown.isStopRequested {
            rd_kafka_poll(client.handle, timeout)
        }
        // Fail what is left instead of leaking its delivery closures.
        rd_kafka_purge(client.handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        rd_kafka_poll(client.handle, 0)
        client.destroy()
        errorContinuation.finish()
        shutdown.markClosed()
    }

    /// Delivery report callback (on the poll thread).
    private static func delivered(_ message: UnsafePointer<rd_kafka_message_t>) {
        let m = message.pointee
        guard let opaque = m._private else { return }
        let delivery = Unmanaged<Delivery>.fromOpaque(opaque).takeRetainedValue()
        if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
            delivery.completion(.success(KafkaDeliveryReport(topic: topic, partition: m.partition, offset: m.offset)))
        } else {
            let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
            delivery.completion(.failure(KafkaError(code: m.err, context: "delivery to \(topic)")))
        }
    }

    private static func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
        guard let bytes else { return body(nil, 0) }
        return bytes.withUnsafeBytes { body($0.baseAddress, $0.count) }
    }
}
