import Foundation
import Inference
import Kafka
import ModerationProto
import Tracing

/// Everything `ModerationWorker` needs besides the model. Each field has its default here
/// and only here (the command line's flags start from these values); every field maps to a
/// `duoguard worker` flag and a `DUOGUARD_*` variable. `validate()` checks the whole set.
public struct WorkerConfiguration: Sendable {
    /// Brokers, client id and librdkafka passthrough (SASL/TLS) for consumer and producer.
    public var kafka: KafkaConfiguration
    /// Consumer group: workers sharing it split the input partitions.
    public var groupID: String
    /// Topics holding `ModerationRequest`s.
    public var inputTopics: [String]
    /// Where results go (and where a request whose `reply-to` is refused is answered).
    public var outputTopic: String
    /// Where poison and undeliverable messages go, with error headers.
    public var deadLetterTopic: String

    /// How texts are tokenized and long texts scored (shared with `duoguard classify`).
    /// Default: `TextScoring()`, the model card's truncation at 512 tokens.
    public var scoring = TextScoring()
    /// Per-category thresholds of the `unsafe` verdict. Default: 0.5 for every category. A
    /// request's own `threshold` replaces them all for that request.
    public var thresholds = CategoryThresholds()
    /// How request records are opened: the encoding of records without `content-type`, the
    /// Schema Registry schema ids accepted (CloudEvents and trace context need no setting).
    /// Default: protobuf, any schema id.
    public var envelope = EnvelopeOptions()
    /// How results are wrapped: Schema Registry framing with a schema id, binary-mode
    /// CloudEvent headers. Default: neither (a bare value with `content-type`).
    public var resultEnvelope = ResultEnvelopeOptions()
    /// Where a request's `reply-to` header may send its result. Default: nowhere (`.denyAll`):
    /// a requester must not be able to write to any topic the worker's credentials reach.
    public var replyTo = ReplyToPolicy.denyAll
    /// Bounds of a request's `metadata` (entries, key, value and total bytes); beyond them a
    /// request is INVALID_ARGUMENT (`METADATA_TOO_LARGE`). Default: `MetadataLimits()`.
    public var metadataLimits = MetadataLimits()

    /// Requests per inference batch (the token budget is the model's `batchTokenBudget`).
    /// Default: 64.
    public var maxBatch = 64
    /// How long a batch's first request waits for company. Default: 20 ms.
    public var maxWait: Duration = .milliseconds(20)
    /// Tokenized requests queued for batching; when full, intake waits and the consumer
    /// pauses its partitions. Default: 256.
    public var queueCapacity = 256
    /// Requests whose text is longer (UTF-8 bytes) are invalid. Default: 64 KiB.
    public var maxTextBytes = 65_536
    /// Records whose key + value + headers are larger are dead-lettered before decoding.
    /// Default: 1 MiB (Kafka's default `message.max.bytes`).
    public var maxRequestBytes = 1_048_576
    /// Bytes of requests read and not yet answered (queued, in inference, or being sent);
    /// intake waits above it, which pauses the consumer. With the consumer's own buffer bound
    /// this bounds the worker's memory in bytes, whatever the record sizes. Default: 64 MiB.
    public var maxInFlightBytes = 64 * 1_048_576
    /// Bytes of fetched records the consumer buffers for intake; above it, fetching pauses.
    /// Default: 32 MiB.
    public var maxBufferedBytes = 32 * 1_048_576
    /// Reported in every result (`worker_id`). Default: `hostname-pid`.
    public var workerID = WorkerConfiguration.defaultWorkerID
    /// `hostname-pid`.
    public static var defaultWorkerID: String { "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)" }
    /// Log request texts. Default: off (texts are user content).
    public var logText = false

    /// Consumer `session.timeout.ms`. Default: 45 s.
    public var sessionTimeout: Duration = .seconds(45)
    /// Interval at which stored offsets are committed. Default: 5 s.
    public var commitInterval: Duration = .seconds(5)
    /// Interval of the consumer-lag gauge refresh. Default: 15 s.
    public var lagInterval: Duration = .seconds(15)
    /// How long shutdown (or a revoke) waits for in-flight results. Default: 30 s.
    public var drainTimeout: Duration = .seconds(30)
    /// Backoff between attempts to deliver a result after a retriable error: doubles from
    /// 10 ms up to this. Default: 5 s.
    public var maxRetryBackoff: Duration = .seconds(5)
    /// How long a result's delivery is retried after retriable failures before it becomes an
    /// `UNDELIVERABLE` dead letter with the last error (a `reply-to` that stays unwritable must
    /// not freeze its partition's commits). Dead letters themselves are retried without end.
    public var maxRetryAge: Duration = .seconds(300)

    /// Address `/metrics`, `/healthz` and `/readyz` bind to. Default: `0.0.0.0` (probes come
    /// from outside the container); `127.0.0.1` keeps them local.
    public var metricsHost = "0.0.0.0"
    /// Port of the metrics/health server; 0 = any free port, `nil` = no server. Default: 9464.
    public var metricsPort: Int? = 9_464

    /// The tracer of the worker's spans. Default: `nil`, the process's bootstrapped one
    /// (`InstrumentationSystem.tracer`; a no-op unless bootstrapped, e.g. by `--otlp-endpoint`).
    public var tracer: (any Tracer)?

    /// Set for `duoguard replay`: answer only these offsets, then stop. Default: `nil` (a
    /// worker runs until it is stopped).
    public var replay: ReplayPlan?

    /// The required settings; every other field starts at its documented default.
    public init(kafka: KafkaConfiguration, groupID: String, inputTopics: [String], outputTopic: String, deadLetterTopic: String) {
        self.kafka = kafka
        self.groupID = groupID
        self.inputTopics = inputTopics
        self.outputTopic = outputTopic
        self.deadLetterTopic = deadLetterTopic
    }

    /// Checks every setting against the model's batch budget; the worker calls it at start,
    /// the command line before anything connects.
    public func validate(batchTokenBudget: Int) throws(ConfigurationError) {
        try scoring.validate(batchTokenBudget: batchTokenBudget)
        func require(_ ok: Bool, _ setting: String, _ reason: @autoclosure () -> String) throws(ConfigurationError) {
            if !ok { throw ConfigurationError(setting, reason()) }
        }
        try require(!groupID.isEmpty, "--group", "must not be empty")
        try require(!inputTopics.isEmpty && !inputTopics.contains(where: \.isEmpty), "--input-topic", "needs at least one non-empty topic")
        try require(!outputTopic.isEmpty, "--output-topic", "must not be empty")
        try require(!deadLetterTopic.isEmpty, "--dlq-topic", "must not be empty")
        try require(!inputTopics.contains(outputTopic), "--output-topic", "'\(outputTopic)' is also an input topic: results would be read as requests")
        try require(!inputTopics.contains(deadLetterTopic), "--dlq-topic", "'\(deadLetterTopic)' is also an input topic: dead letters would be read as requests")
        // A subscription pattern reserves every topic it matches: it must compile with the
        // matcher `reply-to` is checked with, and must not take in the worker's own outputs.
        for input in inputTopics where input.hasPrefix("^") {
            let pattern: TopicPattern
            do {
                pattern = try TopicPattern(subscription: input)
            } catch {
                throw ConfigurationError("--input-topic", "pattern '\(input)' uses syntax the worker cannot check topics against (\(error)); see docs/operations.md")
            }
            try require(!pattern.matches(outputTopic), "--output-topic", "'\(outputTopic)' matches the input pattern '\(input)': results would be read as requests")
            try require(!pattern.matches(deadLetterTopic), "--dlq-topic", "'\(deadLetterTopic)' matches the input pattern '\(input)': dead letters would be read as requests")
        }
        let guarded = KafkaGuaranteeProperties.consumer.union(KafkaGuaranteeProperties.producer)
        if let property = KafkaGuaranteeProperties.violation(in: kafka.properties, protected: guarded) {
            throw ConfigurationError(
                "-X \(property)",
                "cannot be set (-X / --kafka-config): the worker's at-least-once guarantee depends on its own value of '\(property)'")
        }
        try require((1...4_096).contains(maxBatch), "--max-batch", "must be within 1...4096, not \(maxBatch)")
        try require(maxWait >= .zero && maxWait <= .seconds(60), "--max-wait-ms", "must be within 0...60000 ms")
        try require((1...1_000_000).contains(queueCapacity), "--queue-capacity", "must be within 1...1000000, not \(queueCapacity)")
        try require(maxTextBytes >= 1, "--max-text-bytes", "must be at least 1, not \(maxTextBytes)")
        try require(
            (1...1_000_000_000).contains(maxRequestBytes), "--max-request-bytes",
            "must be within 1...1000000000 (librdkafka's largest message), not \(maxRequestBytes)")
        try require(
            maxInFlightBytes >= maxRequestBytes, "--max-in-flight-bytes",
            "must be at least --max-request-bytes (\(maxRequestBytes)), not \(maxInFlightBytes)")
        try require(maxBufferedBytes >= 1_048_576, "--max-buffered-bytes", "must be at least 1 MiB, not \(maxBufferedBytes)")
        try require(!workerID.isEmpty, "--worker-id", "must not be empty")
        try require(sessionTimeout >= .seconds(1) && sessionTimeout <= .seconds(3_600), "--session-timeout-ms", "must be within 1000...3600000 ms")
        try require(commitInterval >= .milliseconds(10), "--commit-interval-ms", "must be at least 10 ms")
        try require(lagInterval >= .milliseconds(100), "--lag-interval-ms", "must be at least 100 ms")
        try require(drainTimeout >= .zero && drainTimeout <= .seconds(600), "--drain-timeout-ms", "must be within 0...600000 ms")
        try require(maxRetryBackoff >= .milliseconds(10), "--max-retry-backoff-ms", "must be at least 10 ms")
        try require(maxRetryAge >= .milliseconds(10), "--max-retry-age-ms", "must be at least 10 ms")
        if let metricsPort {
            try require((0...65_535).contains(metricsPort), "--metrics-port", "must be within 0...65535, not \(metricsPort)")
            try require(!metricsHost.isEmpty, "--metrics-host", "must not be empty")
        }
    }

    /// The worker's producer: idempotent, `acks=all`, and never creating a topic
    /// (`allow.auto.create.topics=false`), whatever the cluster's auto-creation setting.
    /// Its message.max.bytes stays the broker's (Kafka's default, or -X): a dead letter that
    /// does not fit is sent again without the request's value.
    public var producerConfiguration: KafkaProducerConfiguration {
        var producer = KafkaProducerConfiguration(client: kafka)
        producer.allowsTopicCreation = false
        return producer
    }

    /// The longest a graceful shutdown may take before the process gives up and exits
    /// non-zero: the drain, the final commit and leaving the group, and the producer's flush.
    public var shutdownLimit: Duration { drainTimeout * 2 + .seconds(15) }
}
