import ArgumentParser
import Foundation
import Inference
import Kafka
import Logging
import ModerationProto
import Worker

extension ContentType: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

/// Options shared by `duoguard worker` and `duoguard replay`: the cluster, the model, how
/// requests are scored and how the pipeline is tuned. Each falls back to an environment
/// variable `DUOGUARD_<NAME>`; an option given nowhere keeps `WorkerConfiguration`'s default.
struct PipelineOptions: ParsableArguments {
    @Option(name: .long, help: "Bootstrap brokers, HOST:PORT[,HOST:PORT] (env DUOGUARD_BROKERS).")
    var brokers: String?
    @Option(name: .long, help: "Model file (.gguf from `duoguard convert`) (env DUOGUARD_MODEL).")
    var model: String?
    @OptionGroup var modelArguments: ModelArguments
    @OptionGroup var scoringArguments: ScoringArguments
    @Option(name: .long, help: "Requests per inference batch (default \(Self.defaults.maxBatch)) (env DUOGUARD_MAX_BATCH).")
    var maxBatch: Int?
    @Option(name: .long, help: "Max wait for a batch to fill, ms (default \(Self.defaults.maxWait.milliseconds)).")
    var maxWaitMs: Int?
    @Option(name: .long, help: "Requests queued for batching before partitions pause (default \(Self.defaults.queueCapacity)).")
    var queueCapacity: Int?
    @Option(name: .long, help: "Largest accepted text in UTF-8 bytes (default \(Self.defaults.maxTextBytes)).")
    var maxTextBytes: Int?
    @Option(name: .long, help: "Largest request record (key + value + headers) decoded, bytes; larger ones are dead-lettered (default \(Self.defaults.maxRequestBytes)).")
    var maxRequestBytes: Int?
    @Option(name: .long, help: "Bytes of requests read and not yet answered before intake waits (default \(Self.defaults.maxInFlightBytes)).")
    var maxInFlightBytes: Int?
    @Option(name: .long, help: "Encoding of records without a content-type header: protobuf (default) or json (env DUOGUARD_DEFAULT_CONTENT_TYPE).")
    var defaultContentType: ContentType?
    @Option(name: .long, help: "Schema Registry schema ids accepted in framed records, e.g. 12,13 (default: any) (env DUOGUARD_SCHEMA_IDS).")
    var schemaIds: String?
    @Option(name: .long, help: "Frame results for Confluent deserializers with this Schema Registry schema id (env DUOGUARD_RESULT_SCHEMA_ID).")
    var resultSchemaId: UInt32?
    @Flag(name: .long, help: "Write results as binary-mode CloudEvents (ce_* headers) (env DUOGUARD_CLOUDEVENTS_OUTPUT=1).")
    var cloudeventsOutput = false
    @Option(name: .long, help: "ce_source of CloudEvent results (default /duoguard/moderation) (env DUOGUARD_CLOUDEVENTS_SOURCE).")
    var cloudeventsSource: String?
    @Option(name: .long, help: "Bytes of fetched records buffered for intake before fetching pauses (default \(Self.defaults.maxBufferedBytes)).")
    var maxBufferedBytes: Int?
    @Option(name: .long, help: "Regular expression (whole match) of topics a request's reply-to may name; without it every reply-to is refused (env DUOGUARD_REPLY_TO_ALLOW).")
    var replyToAllow: String?
    @Option(name: .long, help: "Interval of offset commits, ms (default \(Self.defaults.commitInterval.milliseconds)).")
    var commitIntervalMs: Int?
    @Option(name: .long, help: "Consumer session timeout, ms (default \(Self.defaults.sessionTimeout.milliseconds)).")
    var sessionTimeoutMs: Int?
    @Option(name: .long, help: "Interval of the consumer-lag metric refresh, ms (default \(Self.defaults.lagInterval.milliseconds)).")
    var lagIntervalMs: Int?
    @Option(name: .long, help: "How long shutdown and revokes wait for in-flight results, ms (default \(Self.defaults.drainTimeout.milliseconds)).")
    var drainTimeoutMs: Int?
    @Option(name: .long, help: "How long the final commit (and a revoke's commit) waits for the broker, ms (default \(Self.defaults.commitTimeout.milliseconds)).")
    var commitTimeoutMs: Int?
    @Option(name: .long, help: "How long the producer's flush at a graceful stop waits, after the drain, ms (default \(Self.defaults.flushTimeout.milliseconds)).")
    var flushTimeoutMs: Int?
    @Option(name: .long, help: "Longest a stop may take (e.g. the orchestrator's grace period), ms; start fails if the timeouts could exceed it (default: their sum + 3 s).")
    var shutdownLimitMs: Int?
    @Option(name: .long, help: "Longest backoff between retries of a result delivery, ms (default \(Self.defaults.maxRetryBackoff.milliseconds)).")
    var maxRetryBackoffMs: Int?

    @Option(name: .long, help: "How long a result's delivery is retried before it becomes an UNDELIVERABLE dead letter, ms (default \(Self.defaults.maxRetryAge.milliseconds)).")
    var maxRetryAgeMs: Int?
    @Option(name: .long, help: "Bytes of the score cache: scores of texts seen before (digests only, never texts), answered without the model; 0: off (default \(Self.defaults.scoreCacheBytes)) (env DUOGUARD_SCORE_CACHE_BYTES).")
    var scoreCacheBytes: Int?
    @Option(name: .long, help: "Worker id reported in results (default hostname-pid).")
    var workerID: String?
    @Option(name: [.customShort("X")], help: "librdkafka property key=value (repeatable).")
    var kafkaProperty: [String] = []
    @Option(name: .long, help: "Java-style client.properties file for librdkafka (SASL/TLS).")
    var kafkaConfig: String?
    @Option(name: .long, help: "Export spans with OTLP/HTTP to this collector, e.g. http://otel-collector:4318 (env DUOGUARD_OTLP_ENDPOINT; needs a build with the OTLP trait).")
    var otlpEndpoint: String?
    @Flag(name: .long, help: "Log request texts (off: texts are user content).")
    var logText = false
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error (default info).")
    var logLevel: String?

    /// The defaults shown in the help texts: `WorkerConfiguration`'s own.
    private static let defaults = WorkerConfiguration(kafka: KafkaConfiguration(bootstrapServers: []), groupID: "", inputTopics: [], outputTopic: "", deadLetterTopic: "")

    var environment: Environment { .process }

    /// The span exporter `--otlp-endpoint` asks for (bootstrapped now, so the worker's tracer
    /// is the exporter's); none without the flag.
    func tracingExport(serviceName: String, logger: Logger) throws -> TracingExport {
        guard let endpoint = try environment.value(otlpEndpoint, "OTLP_ENDPOINT") else { return TracingExport() }
        do {
            return try TracingExport.otlp(endpoint: endpoint, serviceName: serviceName, logger: logger)
        } catch {
            throw ValidationError("--otlp-endpoint: \(error)")
        }
    }

    func makeLogger(label: String) throws -> Logger {
        var logger = Logger(label: label)
        let level = try environment.value(logLevel, "LOG_LEVEL") ?? "info"
        guard let parsed = Logger.Level(rawValue: level) else { throw ValidationError("unknown log level '\(level)'") }
        logger.logLevel = parsed
        return logger
    }

    func kafkaConfiguration(clientID: String) throws -> KafkaConfiguration {
        var kafka = KafkaConfiguration(
            bootstrapServers: try environment.required(brokers, "BROKERS", "--brokers").split(separator: ",").map(String.init),
            clientID: clientID)
        if let path = try environment.value(kafkaConfig, "KAFKA_CONFIG") { try kafka.loadProperties(fromFile: path) }
        for property in kafkaProperty {
            guard let equals = property.firstIndex(of: "=") else { throw ValidationError("-X expects key=value, got '\(property)'") }
            kafka.properties[String(property[..<equals])] = String(property[property.index(after: equals)...])
        }
        return kafka
    }

    /// Loads the model (failing at start with a clear message) and builds the validated
    /// configuration: defaults, then environment, then flags.
    func makeConfiguration(
        kafka: KafkaConfiguration, group: String, inputTopics: [String], outputTopic: String, deadLetterTopic: String,
        adjust: (inout WorkerConfiguration) throws -> Void = { _ in }
    ) throws -> (WorkerConfiguration, DuoGuardModel) {
        let env = environment
        let loaded = try DuoGuardModel.load(path: try env.required(model, "MODEL", "--model"), options: try modelArguments.options(env))
        try loaded.checkVocabulary()
        var configuration = WorkerConfiguration(
            kafka: kafka, groupID: group, inputTopics: inputTopics, outputTopic: outputTopic, deadLetterTopic: deadLetterTopic)
        configuration.scoring = try scoringArguments.scoring(for: loaded, env)
        configuration.thresholds = try scoringArguments.thresholds(for: loaded, env)
        if let pattern = try env.value(replyToAllow, "REPLY_TO_ALLOW") {
            do {
                configuration.replyTo = try ReplyToPolicy(allowing: pattern)
            } catch {
                throw ValidationError(error.description)
            }
        }
        if let value = try env.value(defaultContentType, "DEFAULT_CONTENT_TYPE") { configuration.envelope.defaultContentType = value }
        if let text = try env.value(schemaIds, "SCHEMA_IDS") {
            guard let ids = EnvelopeOptions.parseSchemaIDs(text) else {
                throw ValidationError("--schema-ids: '\(text)' is not a comma-separated list of ids 0...4294967295")
            }
            configuration.envelope.allowedSchemaIDs = ids
        }
        configuration.resultEnvelope.schemaID = try env.value(resultSchemaId, "RESULT_SCHEMA_ID")
        let source = try env.value(cloudeventsSource, "CLOUDEVENTS_SOURCE")
        if env.flag(cloudeventsOutput, "CLOUDEVENTS_OUTPUT") || source != nil {
            if let source {
                // A URI reference that goes into every result's ce_source header: visible ASCII.
                guard !source.isEmpty, source.utf8.count <= 1_024, source.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                    throw ValidationError("--cloudevents-source: must be a URI reference of 1...1024 visible ASCII characters")
                }
            }
            configuration.resultEnvelope.cloudEvents = source.map { CloudEventOutput(source: $0) } ?? CloudEventOutput()
        }
        if let value = try env.value(maxBatch, "MAX_BATCH") { configuration.maxBatch = value }
        if let value = try env.milliseconds(maxWaitMs, "MAX_WAIT_MS") { configuration.maxWait = value }
        if let value = try env.value(queueCapacity, "QUEUE_CAPACITY") { configuration.queueCapacity = value }
        if let value = try env.value(maxTextBytes, "MAX_TEXT_BYTES") { configuration.maxTextBytes = value }
        if let value = try env.value(maxRequestBytes, "MAX_REQUEST_BYTES") { configuration.maxRequestBytes = value }
        if let value = try env.value(maxInFlightBytes, "MAX_IN_FLIGHT_BYTES") { configuration.maxInFlightBytes = value }
        if let value = try env.value(maxBufferedBytes, "MAX_BUFFERED_BYTES") { configuration.maxBufferedBytes = value }
        if let value = try env.milliseconds(commitIntervalMs, "COMMIT_INTERVAL_MS") { configuration.commitInterval = value }
        if let value = try env.milliseconds(sessionTimeoutMs, "SESSION_TIMEOUT_MS") { configuration.sessionTimeout = value }
        if let value = try env.milliseconds(lagIntervalMs, "LAG_INTERVAL_MS") { configuration.lagInterval = value }
        if let value = try env.milliseconds(drainTimeoutMs, "DRAIN_TIMEOUT_MS") { configuration.drainTimeout = value }
        if let value = try env.milliseconds(commitTimeoutMs, "COMMIT_TIMEOUT_MS") { configuration.commitTimeout = value }
        if let value = try env.milliseconds(flushTimeoutMs, "FLUSH_TIMEOUT_MS") { configuration.flushTimeout = value }
        if let value = try env.milliseconds(shutdownLimitMs, "SHUTDOWN_LIMIT_MS") { configuration.shutdownLimitOverride = value }
        if let value = try env.milliseconds(maxRetryBackoffMs, "MAX_RETRY_BACKOFF_MS") { configuration.maxRetryBackoff = value }
        if let value = try env.milliseconds(maxRetryAgeMs, "MAX_RETRY_AGE_MS") { configuration.maxRetryAge = value }
        if let value = try env.value(scoreCacheBytes, "SCORE_CACHE_BYTES") { configuration.scoreCacheBytes = value }
        if let value = try env.value(workerID, "WORKER_ID") { configuration.workerID = value }
        configuration.logText = env.flag(logText, "LOG_TEXT")
        try adjust(&configuration)
        do {
            try configuration.validate(batchTokenBudget: loaded.options.batchTokenBudget)
        } catch {
            throw ValidationError(error.description)
        }
        return (configuration, loaded)
    }
}
