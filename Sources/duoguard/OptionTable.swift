import ArgumentParser
import Foundation
import Inference
import Kafka
import ModerationProto
import Worker

/// Every option of `duoguard worker`, declared once: flag, environment variable, default
/// (read from the configuration type that owns it) and meaning.
///
/// The `@Option`s take their help from here (`OptionTable.help`), the environment variable
/// is derived from the flag (`environmentName`), and docs/operations.md's option table is
/// this table printed by `duoguard options --markdown` (`OptionTableTests` fails when the
/// doc, the help or the environment names drift, or an option has no entry or two).
///
/// Adding an option: one entry here, the `@Option` with `help: OptionTable.help("--flag")`,
/// its mapping to the configuration field (`env.value(flag, "NAME")`), its check in the
/// configuration type's `validate()`; then `duoguard options --markdown` into operations.md.
enum OptionTable {
    /// How an option is read from the environment.
    enum EnvironmentForm: Sendable {
        /// `DUOGUARD_<NAME>=value`.
        case value
        /// `DUOGUARD_<NAME>=a,b` for a repeatable option.
        case list
        /// `DUOGUARD_<NAME>=1` (or `true`) for a flag.
        case flag
        /// No environment variable (repeatable pairs, a flag's own syntax).
        case none
    }

    struct Entry: Sendable {
        /// `--max-batch` (or `-X`).
        let flag: String
        /// How the value is written in the docs (`NAME=P`, `FILE`), if it helps.
        var value: String? = nil
        var repeatable = false
        var environment: EnvironmentForm = .value
        /// The default as shown; nil: none worth showing (`required` for required ones).
        let defaultText: String?
        /// What it does (the help and the docs' Meaning column).
        let meaning: String

        /// `DUOGUARD_<NAME>`: the flag upper-cased, dashes as underscores; nil without one.
        var environmentVariable: String? { environment == .none ? nil : OptionTable.environmentName(flag) }

        /// `--help`'s text: the meaning, the default and the variable.
        var help: String {
            var text = meaning
            if let defaultText { text += " (default \(defaultText))" }
            switch environment {
            case .value: text += " (env \(OptionTable.environmentName(flag)))"
            case .list: text += " (env \(OptionTable.environmentName(flag)), comma-separated)"
            case .flag: text += " (env \(OptionTable.environmentName(flag))=1)"
            case .none: break
            }
            return text
        }
    }

    /// The rule `Environment` reads variables by: `--max-batch` -> `DUOGUARD_MAX_BATCH`.
    static func environmentName(_ flag: String) -> String {
        "DUOGUARD_" + flag.drop { $0 == "-" }.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// The defaults shown: the configuration types' own.
    private static let worker = WorkerConfiguration(
        kafka: KafkaConfiguration(bootstrapServers: []), groupID: "", inputTopics: [], outputTopic: "", deadLetterTopic: "")
    private static let front = FrontDoorConfiguration(httpPort: nil)
    private static let scoring = TextScoring()
    private static func ms(_ duration: Duration) -> String { "\(duration.components.seconds * 1_000 + duration.components.attoseconds / 1_000_000_000_000_000)" }

    /// In docs/operations.md's order.
    static let entries: [Entry] = [
        Entry(flag: "--brokers", defaultText: "required", meaning: "bootstrap brokers, HOST:PORT[,HOST:PORT]"),
        Entry(flag: "--group", defaultText: "required", meaning: "consumer group; workers sharing it split the partitions"),
        Entry(flag: "--input-topic", repeatable: true, environment: .list, defaultText: "required", meaning: "request topic(s); not the output or dead-letter topic"),
        Entry(flag: "--output-topic", defaultText: "required", meaning: "topic for results (and answers to refused reply-tos); not an input topic"),
        Entry(flag: "--dlq-topic", defaultText: "required", meaning: "dead-letter topic for poison and undeliverable messages; not an input topic"),
        Entry(flag: "--model", defaultText: "required", meaning: "model file (.gguf from `duoguard convert`)"),
        Entry(flag: "--threshold", defaultText: "the model's, 0.5", meaning: "default unsafe threshold on each probability, 0...1"),
        Entry(flag: "--category-threshold", value: "NAME=P", repeatable: true, environment: .none, defaultText: nil, meaning: "one category's threshold, e.g. Hate=0.3 (1 switches it off)"),
        Entry(flag: "--category-thresholds", value: "FILE", defaultText: nil, meaning: "file of NAME=P lines with per-category thresholds, at most 64 KiB"),
        Entry(flag: "--max-tokens", defaultText: "the model's, \(ModelConfig.referenceMaxTokens)", meaning: "tokens kept per text, or per window; 2...--batch-tokens"),
        Entry(flag: "--long-text", defaultText: scoring.longText.rawValue, meaning: "texts over --max-tokens: truncate (as the model card) or windows (max over overlapping windows)"),
        Entry(flag: "--window-overlap", defaultText: "\(scoring.windowOverlap)", meaning: "tokens shared by consecutive windows with --long-text windows; at most 3/4 of a window"),
        Entry(flag: "--max-windows", defaultText: "\(scoring.maxWindows)", meaning: "most windows scored per text with --long-text windows; a longer text is INVALID_ARGUMENT (TOO_MANY_WINDOWS)"),
        Entry(flag: "--batch-tokens", defaultText: "\(ModelOptions().batchTokenBudget)", meaning: "most tokens per forward pass, 1...\(ModelOptions.maxBatchTokenBudget)"),
        Entry(flag: "--threads", defaultText: "all cores", meaning: "inference threads, 1...\(ModelOptions.maxThreads)"),
        Entry(flag: "--packed-weights", value: "beside|private|DIRECTORY", defaultText: "beside", meaning: "packed weights: beside maps <model>.packed when it matches (made by `duoguard pack`, never written), a DIRECTORY maps and builds them there (shared by every process on the host), private packs a private copy"),
        Entry(flag: "--weight-format", value: "stored|q8_r", defaultText: WeightFormat.stored.rawValue, meaning: "how layer matrices are held: stored (the file's Q8_0/Q4_0 blocks) or q8_r (requantized at load to per-row int8, faster on VNNI CPUs; accuracy in docs/kernels.md); a packed-weights file is keyed by it"),
        Entry(flag: "--max-batch", defaultText: "\(worker.maxBatch)", meaning: "requests per inference batch, 1...4096"),
        Entry(flag: "--max-wait-ms", defaultText: ms(worker.maxWait), meaning: "max wait for a batch to fill, ms, 0...60000 (only while requests arrive at least this often on average: a lone request on an idle worker starts at once)"),
        Entry(flag: "--queue-capacity", defaultText: "\(worker.queueCapacity)", meaning: "requests queued for batching before intake waits and partitions pause"),
        Entry(flag: "--score-cache-bytes", defaultText: "\(worker.scoreCacheBytes), off", meaning: "bytes of the score cache: a text scored before (digests only, never texts) is answered without tokenizing or the model"),
        Entry(flag: "--max-text-bytes", defaultText: "\(worker.maxTextBytes)", meaning: "largest accepted text in UTF-8 bytes; larger ones are INVALID_ARGUMENT"),
        Entry(flag: "--max-request-bytes", defaultText: "\(worker.maxRequestBytes)", meaning: "largest request record (key + value + headers) decoded; larger ones are dead-lettered undecoded; 1...10^9"),
        Entry(flag: "--max-in-flight-bytes", defaultText: "\(worker.maxInFlightBytes)", meaning: "bytes of requests read and not yet answered before intake waits"),
        Entry(flag: "--max-buffered-bytes", defaultText: "\(worker.maxBufferedBytes)", meaning: "bytes of fetched records buffered for intake before fetching pauses"),
        Entry(flag: "--default-content-type", defaultText: worker.envelope.defaultContentType == .json ? "json" : "protobuf", meaning: "encoding of records without a content-type header: protobuf or json (Confluent's JSON Schema serializer)"),
        Entry(flag: "--schema-ids", value: "12,13", defaultText: "any", meaning: "Schema Registry schema ids accepted in framed records"),
        Entry(flag: "--result-schema-id", value: "N", defaultText: "none", meaning: "frame results for Confluent deserializers with this Schema Registry schema id"),
        Entry(flag: "--cloudevents-output", environment: .flag, defaultText: "off", meaning: "write results as binary-mode CloudEvents (ce_* headers)"),
        Entry(flag: "--cloudevents-source", value: "URI", defaultText: CloudEventOutput().source, meaning: "ce_source of CloudEvent results (implies --cloudevents-output); 1...1024 visible ASCII characters"),
        Entry(flag: "--otlp-endpoint", value: "URL", defaultText: "none", meaning: "export spans with OTLP/HTTP to this collector, e.g. http://otel-collector:4318 (needs a build with the OTLP trait)"),
        Entry(flag: "--reply-to-allow", value: "PATTERN", defaultText: "none: every reply-to refused", meaning: "regular expression (whole match, linear time) of topics a request's reply-to may name; only existing topics are written"),
        Entry(flag: "--metrics-host", defaultText: worker.metricsHost, meaning: "address /metrics, /healthz, /readyz bind to"),
        Entry(flag: "--metrics-port", defaultText: "\(worker.metricsPort ?? 0)", meaning: "port of /metrics, /healthz, /readyz, 0...65535 (0: any free port)"),
        Entry(flag: "--fetch-wait-ms", defaultText: ms(worker.fetchWait), meaning: "consumer fetch.wait.max.ms: longest a broker holds a fetch that finds nothing, 0...300000 (lower it only for brokers that do not answer a waiting fetch when records arrive, as the local test broker; docs/kafka.md)"),
        Entry(flag: "--session-timeout-ms", defaultText: ms(worker.sessionTimeout), meaning: "consumer session timeout, ms"),
        Entry(flag: "--commit-interval-ms", defaultText: ms(worker.commitInterval), meaning: "interval of offset commits, ms"),
        Entry(flag: "--lag-interval-ms", defaultText: ms(worker.lagInterval), meaning: "interval of the consumer-lag metric refresh, ms"),
        Entry(flag: "--drain-timeout-ms", defaultText: ms(worker.drainTimeout), meaning: "how long shutdown and revokes wait for in-flight results, ms"),
        Entry(flag: "--commit-timeout-ms", defaultText: ms(worker.commitTimeout), meaning: "how long the final commit (and a revoke's commit) waits for the broker, ms"),
        Entry(flag: "--flush-timeout-ms", defaultText: ms(worker.flushTimeout), meaning: "how long the producer's flush at a graceful stop waits, after the drain, ms"),
        Entry(flag: "--shutdown-limit-ms", defaultText: "the stop's timeouts + \(ms(WorkerConfiguration.shutdownMargin))", meaning: "longest a stop may take (set it to the orchestrator's grace period), ms; start fails if the timeouts could exceed it; past it the process exits with status 3"),
        Entry(flag: "--max-retry-backoff-ms", defaultText: ms(worker.maxRetryBackoff), meaning: "longest backoff between retries of a result delivery, ms"),
        Entry(flag: "--max-retry-age-ms", defaultText: ms(worker.maxRetryAge), meaning: "how long a result's delivery is retried before it becomes an UNDELIVERABLE dead letter, ms (dead letters retry without end; caps the producer's message.timeout.ms)"),
        Entry(flag: "--worker-id", defaultText: "hostname-pid", meaning: "worker id reported in every result"),
        Entry(flag: "-X", value: "key=value", repeatable: true, environment: .none, defaultText: nil, meaning: "librdkafka property (e.g. message.max.bytes = your broker's)"),
        Entry(flag: "--kafka-config", value: "FILE", defaultText: nil, meaning: "Java-style client.properties file for librdkafka (SASL/TLS)"),
        Entry(flag: "--log-text", environment: .flag, defaultText: "off", meaning: "log request texts (user content!)"),
        Entry(flag: "--log-level", defaultText: "info", meaning: "log level: trace, debug, info, notice, warning, error"),
        Entry(flag: "--http-host", defaultText: front.httpHost, meaning: "address the HTTP API binds to"),
        Entry(flag: "--http-port", defaultText: "none: no HTTP API", meaning: "port of the HTTP API: POST /v1/moderations (OpenAI-compatible), /v1/classify (docs/api.md)"),
        Entry(flag: "--api-key-file", value: "FILE", defaultText: "none: open", meaning: "file holding the API key callers must send as 'Authorization: Bearer <key>'"),
        Entry(flag: "--max-sync-requests", defaultText: "\(front.maxRequests)", meaning: "synchronous requests admitted at once; more get 429"),
        Entry(flag: "--max-sync-bytes", defaultText: "\(front.maxBytes)", meaning: "bytes of synchronous text admitted at once; more get 429"),
        Entry(flag: "--sync-fill-tokens", defaultText: "\(front.syncFillTokens)", meaning: "tokens up to which Kafka requests fill a batch that carries synchronous ones (0: a caller waits for the running batch and its own only)"),
        Entry(flag: "--max-http-body-bytes", defaultText: "\(front.server.maxBodyBytes)", meaning: "largest HTTP request body (and gRPC message), bytes"),
        Entry(flag: "--grpc-host", defaultText: "0.0.0.0", meaning: "address the gRPC service binds to (IPv4)"),
        Entry(flag: "--grpc-port", defaultText: "none: no gRPC service", meaning: "port of the gRPC service duoguard.moderation.v1.Moderation and grpc.health.v1.Health"),
        Entry(flag: "--max-http-connections", defaultText: "\(front.server.maxConnections)", meaning: "most open HTTP API connections; the oldest is closed for a new one"),
    ]

    /// The entry of `flag`. Every `@Option` of the worker names one (a missing entry is a
    /// programming error the tests catch: the help then says so instead of crashing).
    static func entry(_ flag: String) -> Entry? { entries.first { $0.flag == flag } }

    /// Each flag's help, built once: ArgumentParser instantiates a command's options many
    /// times while parsing (validators), and the worker's signal handlers are installed only
    /// after parsing, so the lookup must be cheap (a linear search and string building per
    /// call added tens of milliseconds to a debug worker's start). A flag listed twice keeps
    /// its first entry (and `OptionTableTests` fails).
    private static let helpTexts: [String: String] = Dictionary(entries.map { ($0.flag, $0.help) }, uniquingKeysWith: { first, _ in first })

    /// The `@Option`'s help, from its entry.
    static func help(_ flag: String, valueName: String? = nil) -> ArgumentHelp {
        ArgumentHelp(helpTexts[flag] ?? "(no entry in OptionTable for \(flag))", valueName: valueName)
    }

    /// docs/operations.md's table (`duoguard options --markdown`; serve's with `--command serve`).
    static func markdown(_ entries: [Entry] = entries) -> String {
        var lines = ["| Flag | Environment | Default | Meaning |", "|---|---|---|---|"]
        for e in entries {
            var flag = "`\(e.flag)\(e.value.map { " \($0)" } ?? "")`"
            if e.repeatable { flag += " (repeat)" }
            let environment: String
            switch e.environment {
            case .value: environment = "`\(environmentName(e.flag))`"
            case .list: environment = "`\(environmentName(e.flag))` (comma-separated)"
            case .flag: environment = "`\(environmentName(e.flag))=1`"
            case .none: environment = "—"
            }
            let cells = [flag, environment, e.defaultText ?? "—", e.meaning].map { $0.replacingOccurrences(of: "|", with: "\\|") }
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
