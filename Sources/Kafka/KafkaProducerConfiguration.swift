/// Settings of a `KafkaProducer`.
public struct KafkaProducerConfiguration: Sendable {
    /// Where to reach the cluster and any librdkafka passthrough properties.
    public var client: KafkaConfiguration
    /// `enable.idempotence`: no duplicates or reordering from producer retries; implies
    /// `acks=all`. Default: `true`.
    public var idempotent: Bool
    /// `linger.ms`: how long to wait for more messages to fill a batch. Default: 5 ms.
    public var linger: Duration
    /// `message.timeout.ms` (delivery timeout): a message not acknowledged within it fails with
    /// `_MSG_TIMED_OUT`. Default: 120 s (Kafka's default).
    public var deliveryTimeout: Duration
    /// `compression.type`. Default: `"none"` (request texts are short; set `lz4` for big ones).
    public var compression: String
    /// `queue.buffering.max.messages`: messages waiting for delivery; producing blocks
    /// (asynchronously) while it is full. Default: 100,000.
    public var maxQueuedMessages: Int
    /// `queue.buffering.max.kbytes` (rounded up to KiB): bytes waiting for delivery, the
    /// other bound of the local queue (librdkafka's default is 1 GiB). `produce` throws a
    /// retriable `_QUEUE_FULL` and `send` waits while either limit is reached. Must be at
    /// least `maxMessageBytes`. Default: 64 MiB.
    public var maxQueuedBytes: Int
    /// `message.max.bytes`: the largest message (key, value, headers and framing) `produce`
    /// accepts; a larger one is rejected at once with a permanent `MSG_SIZE_TOO_LARGE`.
    /// Default: 1,048,588, Apache Kafka's broker default, so that what this producer accepts
    /// the default broker accepts too. Set it from the largest message the application may
    /// emit and the topics' `max.message.bytes`.
    public var maxMessageBytes: Int
    /// Check topic names against Kafka's rules before producing (see `KafkaTopicName`), so an
    /// invalid name fails at once instead of after a metadata round trip. Default: true.
    var validatesTopicNames = true
    /// `allow.auto.create.topics`: whether producing to a topic the cluster does not have may
    /// create it (on a broker with `auto.create.topics.enable`, Kafka's default). librdkafka's
    /// producer default is true; the worker sets false, so that no requester's `reply-to`
    /// ever creates a topic. Default: true (librdkafka's).
    public var allowsTopicCreation = true
    /// How long one `rd_kafka_poll` call of the delivery thread blocks. Default: 100 ms.
    public var pollTimeout: Duration

    public init(
        client: KafkaConfiguration = KafkaConfiguration(),
        idempotent: Bool = true,
        linger: Duration = .milliseconds(5),
        deliveryTimeout: Duration = .seconds(120),
        compression: String = "none",
        maxQueuedMessages: Int = 100_000,
        maxQueuedBytes: Int = 64 * 1024 * 1024,
        maxMessageBytes: Int = 1_048_588,
        pollTimeout: Duration = .milliseconds(100)
    ) {
        self.client = client
        self.idempotent = idempotent
        self.linger = linger
        self.deliveryTimeout = deliveryTimeout
        self.compression = compression
        self.maxQueuedMessages = maxQueuedMessages
        self.maxQueuedBytes = maxQueuedBytes
        self.maxMessageBytes = maxMessageBytes
        self.pollTimeout = pollTimeout
    }

    /// Checks the limits; `KafkaProducer.init` calls it. Throws a `.configuration` error.
    public func validate() throws(KafkaError) {
        if let property = KafkaGuaranteeProperties.violation(in: client.properties, protected: KafkaGuaranteeProperties.producer) {
            throw KafkaGuaranteeProperties.error(property)
        }
        guard (1_000...1_000_000_000).contains(maxMessageBytes) else {
            throw .configuration("maxMessageBytes must be within 1000...1000000000 (is \(maxMessageBytes))")
        }
        guard maxQueuedBytes >= maxMessageBytes, maxQueuedBytes / 1024 < Int(Int32.max) else {
            throw .configuration("maxQueuedBytes must be at least maxMessageBytes (\(maxMessageBytes)) and below 2 TiB (is \(maxQueuedBytes))")
        }
        guard maxQueuedMessages >= 0 else { throw .configuration("maxQueuedMessages must not be negative") }
        guard pollTimeout > .zero, deliveryTimeout > .zero else {
            throw .configuration("pollTimeout and deliveryTimeout must be positive")
        }
    }

    var librdkafkaProperties: [String: String] {
        var result: [String: String] = [
            "enable.idempotence": idempotent ? "true" : "false",
            "acks": "all",
            "linger.ms": String(linger.milliseconds),
            "message.timeout.ms": String(deliveryTimeout.milliseconds),
            "compression.type": compression,
            "queue.buffering.max.messages": String(maxQueuedMessages),
            "queue.buffering.max.kbytes": String((maxQueuedBytes + 1023) / 1024),
            "message.max.bytes": String(maxMessageBytes),
            "allow.auto.create.topics": allowsTopicCreation ? "true" : "false",
        ]
        for (key, value) in client.librdkafkaProperties { result[key] = value }
        return result
    }
}
