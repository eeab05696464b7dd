import ArgumentParser
import Foundation
import Inference
import Kafka
import Logging
import Worker

/// Options shared by `duoguard worker` and `duoguard replay`: the cluster, the model and
/// how requests are scored. Each falls back to an environment variable `DUOGUARD_<NAME>`.
struct PipelineOptions: ParsableArguments {
    @Option(name: .long, help: "Bootstrap brokers, HOST:PORT[,HOST:PORT] (env DUOGUARD_BROKERS).")
    var brokers: String?
    @Option(name: .long, help: "Model file (.gguf from `duoguard convert`) (env DUOGUARD_MODEL).")
    var model: String?
    @Option(name: .long, help: "Default unsafe threshold on the max probability (default 0.5).")
    var threshold: Float?
    @Option(name: .long, help: "Per-category threshold NAME=P, e.g. Hate=0.3 (repeatable).")
    var categoryThreshold: [String] = []
    @Option(name: .long, help: "File of NAME=P lines with per-category thresholds (env DUOGUARD_CATEGORY_THRESHOLDS).")
    var categoryThresholds: String?
    @Option(name: .long, help: "Texts over --max-tokens: truncate (default, as the model card) or windows (max over overlapping windows).")
    var longText: String?
    @Option(name: .long, help: "Tokens shared by consecutive windows with --long-text windows (default 64).")
    var windowOverlap: Int?
    @Option(name: .long, help: "Tokens kept per text, or per window (default 512).")
    var maxTokens: Int?
    @Option(name: .long, help: "Tokens per inference batch (default 2048).")
    var batchTokens: Int?
    @Option(name: .long, help: "Requests per inference batch (default 64).")
    var maxBatch: Int?
    @Option(name: .long, help: "Max wait for a batch to fill, ms (default 20).")
    var maxWaitMs: Int?
    @Option(name: .long, help: "Requests queued for batching before partitions pause (default 256).")
    var queueCapacity: Int?
    @Option(name: .long, help: "Largest accepted text in UTF-8 bytes (default 65536).")
    var maxTextBytes: Int?
    @Option(name: .long, help: "Inference threads (default: all cores).")
    var threads: Int?
    @Option(name: .long, help: "Interval of offset commits, ms (default 5000).")
    var commitIntervalMs: Int?
    @Option(name: .long, help: "Consumer session timeout, ms (default 45000).")
    var sessionTimeoutMs: Int?
    @Option(name: .long, help: "Worker id reported in results (default hostname-pid).")
    var workerID: String?
    @Option(name: [.customShort("X")], help: "librdkafka property key=value (repeatable).")
    var kafkaProperty: [String] = []
    @Option(name: .long, help: "Java-style client.properties file for librdkafka (SASL/TLS).")
    var kafkaConfig: String?
    @Flag(name: .long, help: "Log request texts (off: texts are user content).")
    var logText = false
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error (default info).")
    var logLevel: String?

    private var env: [String: String] { ProcessInfo.processInfo.environment }

    /// The flag, or else `DUOGUARD_<name>`.
    func value(_ flag: String?, _ name: String) -> String? { flag ?? env["DUOGUARD_\(name)"] }

    func number<T: LosslessStringConvertible>(_ flag: T?, _ name: String) throws -> T? {
        if let flag { return flag }
        guard let text = env["DUOGUARD_\(name)"] else { return nil }
        guard let parsed = T(text) else { throw ValidationError("DUOGUARD_\(name)='\(text)' is not a valid number") }
        return parsed
    }

    func required(_ flag: String?, _ name: String, _ option: String) throws -> String {
        guard let result = value(flag, name), !result.isEmpty else {
            throw ValidationError("missing \(option) (or DUOGUARD_\(name))")
        }
        return result
    }

    func makeLogger(label: String) throws -> Logger {
        var logger = Logger(label: label)
        let level = value(logLevel, "LOG_LEVEL") ?? "info"
        guard let parsed = Logger.Level(rawValue: level) else { throw ValidationError("unknown log level '\(level)'") }
        logger.logLevel = parsed
        return logger
    }

    func kafkaConfiguration(clientID: String) throws -> KafkaConfiguration {
        var kafka = KafkaConfiguration(
            bootstrapServers: try required(brokers, "BROKERS", "--brokers").split(separator: ",").map(String.init),
            clientID: clientID)
        if let path = value(kafkaConfig, "KAFKA_CONFIG") { try kafka.loadProperties(fromFile: path) }
        for property in kafkaProperty {
            guard let equals = property.firstIndex(of: "=") else { throw ValidationError("-X expects key=value, got '\(property)'") }
            kafka.properties[String(property[..<equals])] = String(property[property.index(after: equals)...])
        }
        return kafka
    }

    /// Loads the model (failing at start with a clear message) and builds the configuration.
    func makeConfiguration(
        kafka: KafkaConfiguration, group: String, inputTopics: [String], outputTopic: String, deadLetterTopic: String
    ) throws -> (WorkerConfiguration, DuoGuardModel) {
        let batchTokens = try number(batchTokens, "BATCH_TOKENS") ?? 2048
        let maxTokens = try number(maxTokens, "MAX_TOKENS") ?? 512
        guard maxTokens >= 2, batchTokens >= maxTokens else {
            throw ValidationError("--batch-tokens (\(batchTokens)) must be at least --max-tokens (\(maxTokens)) ≥ 2")
        }
        let loaded = try DuoGuardModel.load(
            path: try required(model, "MODEL", "--model"),
            options: ModelOptions(threads: try number(threads, "THREADS"), batchTokenBudget: batchTokens))
        var configuration = WorkerConfiguration(
            kafka: kafka, groupID: group, inputTopics: inputTopics, outputTopic: outputTopic,
            deadLetterTopic: deadLetterTopic,
            threshold: try number(threshold, "THRESHOLD") ?? loaded.config.threshold,
            maxTokens: maxTokens, batchTokens: batchTokens,
            maxBatch: try number(maxBatch, "MAX_BATCH") ?? 64,
            maxWait: .milliseconds(try number(maxWaitMs, "MAX_WAIT_MS") ?? 20),
            queueCapacity: try number(queueCapacity, "QUEUE_CAPACITY") ?? 256,
            maxTextBytes: try number(maxTextBytes, "MAX_TEXT_BYTES") ?? 65_536,
            workerID: value(workerID, "WORKER_ID"),
            logText: logText || env["DUOGUARD_LOG_TEXT"] == "1",
            sessionTimeout: .milliseconds(try number(sessionTimeoutMs, "SESSION_TIMEOUT_MS") ?? 45_000),
            commitInterval: .milliseconds(try number(commitIntervalMs, "COMMIT_INTERVAL_MS") ?? 5_000))
        if let path = value(categoryThresholds, "CATEGORY_THRESHOLDS") { try configuration.categoryThresholds.load(file: path) }
        try configuration.categoryThresholds.apply(categoryThreshold)
        let mode = value(longText, "LONG_TEXT") ?? "truncate"
        guard let longTextMode = LongTextMode(rawValue: mode) else {
            throw ValidationError("--long-text must be truncate or windows, not '\(mode)'")
        }
        configuration.longText = longTextMode
        configuration.windowOverlap = try number(windowOverlap, "WINDOW_OVERLAP") ?? 64
        guard configuration.windowOverlap >= 0, configuration.windowOverlap < maxTokens - 1 else {
            throw ValidationError("--window-overlap must be within 0..<\(maxTokens - 1)")
        }
        return (configuration, loaded)
    }
}
