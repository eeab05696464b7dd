import ArgumentParser
import Foundation
import ServiceLifecycle
import Worker

/// `duoguard worker`: the main job. Consumes moderation requests from Kafka, classifies them
/// in micro-batches and produces one result per request; SIGTERM/SIGINT drain and exit 0.
///
/// Every option can also come from the environment as `DUOGUARD_<OPTION>` (upper case,
/// dashes as underscores, e.g. `DUOGUARD_BROKERS`, `DUOGUARD_INPUT_TOPIC` with commas for
/// several); a flag given on the command line wins.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Consume moderation requests from Kafka and produce scored results.",
        discussion: """
            Options fall back to DUOGUARD_* environment variables (e.g. DUOGUARD_BROKERS, \
            DUOGUARD_GROUP, DUOGUARD_INPUT_TOPIC=a,b, DUOGUARD_MODEL). librdkafka properties pass \
            through with -X key=value or --kafka-config client.properties (SASL/TLS).
            """
    )

    @Option(name: .long, help: "Consumer group; workers sharing it split the partitions (env DUOGUARD_GROUP).")
    var group: String?
    @Option(name: .long, help: "Input topic; repeat for several (env DUOGUARD_INPUT_TOPIC, comma-separated).")
    var inputTopic: [String] = []
    @Option(name: .long, help: "Output topic for results (env DUOGUARD_OUTPUT_TOPIC).")
    var outputTopic: String?
    @Option(name: .long, help: "Dead-letter topic for poison messages (env DUOGUARD_DLQ_TOPIC).")
    var dlqTopic: String?
    @Option(name: .long, help: "Port of /metrics, /healthz, /readyz (default 9464; 0 = any free port).")
    var metricsPort: Int?
    @OptionGroup var pipeline: PipelineOptions

    func run() async throws {
        let logger = try pipeline.makeLogger(label: "duoguard.worker")
        var inputs = inputTopic
        if inputs.isEmpty, let fromEnv = ProcessInfo.processInfo.environment["DUOGUARD_INPUT_TOPIC"] {
            inputs = fromEnv.split(separator: ",").map(String.init)
        }
        guard !inputs.isEmpty else { throw ValidationError("missing --input-topic (or DUOGUARD_INPUT_TOPIC)") }
        var (configuration, model) = try pipeline.makeConfiguration(
            kafka: try pipeline.kafkaConfiguration(clientID: "duoguard-worker"),
            group: try pipeline.required(group, "GROUP", "--group"), inputTopics: inputs,
            outputTopic: try pipeline.required(outputTopic, "OUTPUT_TOPIC", "--output-topic"),
            deadLetterTopic: try pipeline.required(dlqTopic, "DLQ_TOPIC", "--dlq-topic"))
        configuration.metricsPort = try pipeline.number(metricsPort, "METRICS_PORT") ?? 9_464

        let worker = ModerationWorker(configuration: configuration, model: model, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: worker)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}
