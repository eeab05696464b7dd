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
    /// Wait `maxWait` for company only while requests arrive at least that often on average;
    /// otherwise a lone request starts at once (``CompanyWait``). Default: on.
    public var adaptiveWait = true
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

    /// Consumer `fetch.wait.max.ms` (``KafkaConsumerConfiguration/fetchWait``): matters only
    /// against brokers that do not answer a waiting fetch when records arrive (the local test
    /// broker); on Apache Kafka a lower value only adds empty fetches while idle. Default: 500 ms.
    public var fetchWait: Duration = .milliseconds(500)
    /// Consumer `session.timeout.ms`. Default: 45 s.
    public var sessionTimeout: Duration = .seconds(45)
    /// Interval at which stored offsets are committed. Default: 5 s.
    public var commitInterval: Duration = .seconds(5)
    /// Interval of the consumer-lag gauge refresh. Default: 15 s.
    public var lagInterval: Duration = .seconds(15)
    /// How long shutdown (or a revoke) waits for in-flight results. Default: 30 s.
    public var drainTimeout: Duration = .seconds(30)
    /// How long the final commit (and the commit of a revoke) waits for the broker. Default: 5 s.
    public var commitTimeout: Duration = .seconds(5)
    /// How long the producer's flush at a graceful stop waits for results still unacknowledged
    /// after the drain (they are re-read after restart anyway). Default: 5 s.
    public var flushTimeout: Duration = .seconds(5)
    /// The longest a stop may take (swift-service-lifecycle's graceful-shutdown limit; past it
    /// the process exits with status 3). Set it to the orchestrator's grace period (Kubernetes
    /// `terminationGracePeriodSeconds`): start fails when `shutdownBound` could exceed it.
    /// Default: `nil`, derived (`shutdownBound.graceful` plus `shutdownMargin`).
    public var shutdownLimitOverride: Duration?
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

    /// Bytes of the score cache (`ScoreCache`: digests and scores of texts seen, never the
    /// texts); 0 turns it off. Default: 0 (off) — see docs/operations.md for why.
    public var scoreCacheBytes = 0

    /// Replay only: give way to this live consumer group while its lag is high
    /// (`--yield-to-group`). Default: `nil` (the replay runs flat out).
    public var liveYield: LiveYield?

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
        try require(scoreCacheBytes >= 0, "--score-cache-bytes", "must not be negative, not \(scoreCacheBytes)")
        if let liveYield {
            try require(replay != nil, "--yield-to-group", "only a replay yields to a live group")
            try require(!liveYield.group.isEmpty && liveYield.group != groupID, "--yield-to-group", "must name the live group, not the replay's own '\(groupID)'")
            try require(!liveYield.topics.isEmpty && !liveYield.topics.contains(where: \.isEmpty), "--live-topic", "needs at least one non-empty topic")
            try require(liveYield.hysteresis() != nil, "--resume-live-lag", "\(liveYield.resumeMark) must be below --max-live-lag (\(liveYield.maxLag)), both at least 0")
            try require(liveYield.interval >= .milliseconds(100), "--live-lag-interval-ms", "must be at least 100 ms")
            try require(liveYield.pacing() != nil, "--min-pause-ms", "--min-pause-ms and --resume-ramp-ms must be at least 0")
        }
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
        if let cloudEvents = resultEnvelope.cloudEvents {
            try require(
                CloudEventOutput.isValidSource(cloudEvents.source), "--cloudevents-source",
                "must be a URI reference of 1...1024 visible ASCII characters")
        }
        try require(fetchWait >= .zero && fetchWait <= .seconds(300), "--fetch-wait-ms", "must be within 0...300000 ms")
        try require(sessionTimeout >= .seconds(1) && sessionTimeout <= .seconds(3_600), "--session-timeout-ms", "must be within 1000...3600000 ms")
        try require(commitInterval >= .milliseconds(10), "--commit-interval-ms", "must be at least 10 ms")
        try require(lagInterval >= .milliseconds(100), "--lag-interval-ms", "must be at least 100 ms")
        try require(drainTimeout >= .zero && drainTimeout <= .seconds(600), "--drain-timeout-ms", "must be within 0...600000 ms")
        try require(commitTimeout >= .milliseconds(100) && commitTimeout <= .seconds(600), "--commit-timeout-ms", "must be within 100...600000 ms")
        try require(flushTimeout >= .zero && flushTimeout <= .seconds(600), "--flush-timeout-ms", "must be within 0...600000 ms")
        if let limit = shutdownLimitOverride {
            try require(
                shutdownBound.graceful + Self.shutdownMargin <= limit, "--shutdown-limit-ms",
                "is \(ShutdownBound.text(limit)), but a stop may take up to \(shutdownBound) (+ \(ShutdownBound.text(Self.shutdownMargin)) for the running batch): lower those timeouts or raise the limit")
        }
        try require(maxRetryBackoff >= .milliseconds(10), "--max-retry-backoff-ms", "must be at least 10 ms")
        try require(maxRetryAge >= .milliseconds(10), "--max-retry-age-ms", "must be at least 10 ms")
        if let metricsPort {
            try require((0...65_535).contains(metricsPort), "--metrics-port", "must be within 0...65535, not \(metricsPort)")
            try require(!metricsHost.isEmpty, "--metrics-host", "must not be empty")
        }
    }

    /// The worker's producer: idempotent, `acks=all`, never creating a topic
    /// (`allow.auto.create.topics=false`) whatever the cluster's auto-creation setting, and
    /// giving up a delivery within `maxRetryAge` (`message.timeout.ms`, at most 120 s).
    /// Its message.max.bytes stays the broker's (Kafka's default, or -X): a dead letter that
    /// does not fit is sent again without the request's value.
    public var producerConfiguration: KafkaProducerConfiguration {
        var producer = KafkaProducerConfiguration(client: kafka)
        producer.allowsTopicCreation = false
        // librdkafka retries a retriable produce error itself until `message.timeout.ms` and
        // reports nothing before: a result's retry age could not end before that. Capped at
        // the age, the first report comes within it (a dead letter's retries never end anyway).
        producer.deliveryTimeout = min(producer.deliveryTimeout, maxRetryAge)
        return producer
    }

    /// The worker's consumer, with the timeouts derived from this configuration's: heartbeats
    /// at a sixth of the session timeout (at most 3 s, librdkafka's default), a revoke may take
    /// the drain plus 5 s for its commit and acknowledgement, the close is bounded as
    /// `ShutdownBound` counts it; records up to `maxRequestBytes` must be fetchable (larger
    /// ones are dead-lettered); a replay asks for partition-end events (its end).
    public var consumerConfiguration: KafkaConsumerConfiguration {
        var consumer = KafkaConsumerConfiguration(
            client: kafka, groupID: groupID,
            sessionTimeout: sessionTimeout,
            heartbeatInterval: min(.seconds(3), sessionTimeout / 6),
            autoCommitInterval: commitInterval,
            maxBufferedBytes: maxBufferedBytes,
            revokeTimeout: drainTimeout + .seconds(5),
            closeTimeout: ShutdownBound.consumerClose(commitTimeout: commitTimeout))
        consumer.client.clientID = "duoguard-worker-\(workerID)"
        consumer.maxMessageBytes = max(consumer.maxMessageBytes, maxRequestBytes)
        consumer.reportsPartitionEnd = replay != nil
        consumer.fetchWait = fetchWait
        return consumer
    }

    /// The worst case of a stop, from the timeouts of its steps (`ShutdownBound`).
    public var shutdownBound: ShutdownBound {
        ShutdownBound(drain: drainTimeout, commit: commitTimeout, flush: flushTimeout, api: apiServerStops)
    }

    /// The API servers' stop steps when the worker serves synchronous callers (issue 22,
    /// ``ShutdownBound/apiSteps(httpStop:grpc:)``); none by default.
    public var apiServerStops: [ShutdownBound.Step] = []

    /// Room above `shutdownBound` for what no timeout bounds: the model batch running when the
    /// stop began, and scheduling.
    public static let shutdownMargin: Duration = .seconds(3)

    /// The longest a stop may take before the process gives up and exits (status 3): the
    /// operator's `--shutdown-limit-ms`, else `shutdownBound.graceful + shutdownMargin`.
    /// `validate()` refuses a limit below that sum.
    public var shutdownLimit: Duration { shutdownLimitOverride ?? shutdownBound.graceful + Self.shutdownMargin }
}
