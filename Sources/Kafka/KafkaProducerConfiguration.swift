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
    /// How long one `rd_kafka_poll` call of the delivery thread blocks. Default: 100 ms.
    public var pollTimeout: Duration

    public init(
        client: KafkaConfiguration = KafkaConfiguration(),
        idempotent: Bool = true,
        linger: Duration = .milliseconds(5),
        deliveryTimeout: Duration = .seconds(120),
        compression: String = "none",
        maxQueuedMessages: Int = 100_000,
        pollTimeout: Duration = .milliseconds(100)
    ) {
        self.client = client
        self.idempotent = idempotent
        self.linger = linger
        self.deliveryTimeout = deliveryTimeout
        self.compression = compression
        self.maxQueuedMessages = maxQueuedMessages
        self.pollTimeout = pollTimeout
    }

    var librdkafkaProperties: [String: String] {
        var result: [String: String] = [
            "enable.idempotence": idempotent ? "true" : "false",
            "acks": "all",
            "linger.ms": String(linger.milliseconds),
            "message.timeout.ms": String(deliveryTimeout.milliseconds),
            "compression.type": compression,
            "queue.buffering.max.messages": String(maxQueuedMessages),
        ]
        for (key, value) in client.librdkafkaProperties { result[key] = value }
        return result
    }
}
