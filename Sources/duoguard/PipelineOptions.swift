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
/// Flags, variables, defaults and help are declared once, in `OptionTable`.
struct PipelineOptions: ParsableArguments {
    @Option(name: .long, help: OptionTable.help("--brokers"))
    var brokers: String?
    @Option(name: .long, help: OptionTable.help("--model"))
    var model: String?
    @OptionGroup var modelArguments: ModelArguments
    @OptionGroup var scoringArguments: ScoringArguments
    @Option(name: .long, help: OptionTable.help("--max-batch"))
    var maxBatch: Int?
    @Option(name: .long, help: OptionTable.help("--max-wait-ms"))
    var maxWaitMs: Int?
    @Option(name: .long, help: OptionTable.help("--queue-capacity"))
    var queueCapacity: Int?
    @Option(name: .long, help: OptionTable.help("--max-text-bytes"))
    var maxTextBytes: Int?
    @Option(name: .long, help: OptionTable.help("--max-request-bytes"))
    var maxRequestBytes: Int?
    @Option(name: .long, help: OptionTable.help("--max-in-flight-bytes"))
    var maxInFlightBytes: Int?
    @Option(name: .long, help: OptionTable.help("--default-content-type"))
    var defaultContentType: ContentType?
    @Option(name: .long, help: OptionTable.help("--schema-ids"))
    var schemaIds: String?
    @Option(name: .long, help: OptionTable.help("--result-schema-id"))
    var resultSchemaId: UInt32?
    @Flag(name: .long, help: OptionTable.help("--cloudevents-output"))
    var cloudeventsOutput = false
    @Option(name: .long, help: OptionTable.help("--cloudevents-source"))
    var cloudeventsSource: String?
    @Option(name: .long, help: OptionTable.help("--max-buffered-bytes"))
    var maxBufferedBytes: Int?
    @Option(name: .long, help: OptionTable.help("--reply-to-allow"))
    var replyToAllow: String?
    @Option(name: .long, help: OptionTable.help("--commit-interval-ms"))
    var commitIntervalMs: Int?
    @Option(name: .long, help: OptionTable.help("--fetch-wait-ms"))
    var fetchWaitMs: Int?
    @Option(name: .long, help: OptionTable.help("--session-timeout-ms"))
    var sessionTimeoutMs: Int?
    @Option(name: .long, help: OptionTable.help("--lag-interval-ms"))
    var lagIntervalMs: Int?
    @Option(name: .long, help: OptionTable.help("--drain-timeout-ms"))
    var drainTimeoutMs: Int?
    @Option(name: .long, help: OptionTable.help("--commit-timeout-ms"))
    var commitTimeoutMs: Int?
    @Option(name: .long, help: OptionTable.help("--flush-timeout-ms"))
    var flushTimeoutMs: Int?
    @Option(name: .long, help: OptionTable.help("--shutdown-limit-ms"))
    var shutdownLimitMs: Int?
    @Option(name: .long, help: OptionTable.help("--max-retry-backoff-ms"))
    var maxRetryBackoffMs: Int?

    @Option(name: .long, help: OptionTable.help("--max-retry-age-ms"))
    var maxRetryAgeMs: Int?
    @Option(name: .long, help: OptionTable.help("--score-cache-bytes"))
    var scoreCacheBytes: Int?
    @Option(name: .long, help: OptionTable.help("--worker-id"))
    var workerID: String?
    @Option(name: [.customShort("X")], help: OptionTable.help("-X"))
    var kafkaProperty: [String] = []
    @Option(name: .long, help: OptionTable.help("--kafka-config"))
    var kafkaConfig: String?
    @Option(name: .long, help: OptionTable.help("--otlp-endpoint"))
    var otlpEndpoint: String?
    @Flag(name: .long, help: OptionTable.help("--log-text"))
    var logText = false
    @Option(name: .long, help: OptionTable.help("--log-level"))
    var logLevel: String?

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
            // Checked by `WorkerConfiguration.validate()` below.
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
        if let value = try env.milliseconds(fetchWaitMs, "FETCH_WAIT_MS") { configuration.fetchWait = value }
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
