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
            through with -X key=value or --kafka-config client.properties (SASL/TLS). Exit status: \
            0 after a graceful stop, 1 for a configuration or start-up error, 2 after a fatal \
            runtime error (the orchestrator restarts the worker; nothing is committed past \
            unanswered requests).
            """
    )

    @Option(name: .long, help: OptionTable.help("--group"))
    var group: String?
    @Option(name: .long, help: OptionTable.help("--input-topic"))
    var inputTopic: [String] = []
    @Option(name: .long, help: OptionTable.help("--output-topic"))
    var outputTopic: String?
    @Option(name: .long, help: OptionTable.help("--dlq-topic"))
    var dlqTopic: String?
    @Option(name: .long, help: OptionTable.help("--metrics-host"))
    var metricsHost: String?
    @Option(name: .long, help: OptionTable.help("--metrics-port"))
    var metricsPort: Int?
    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var api: APIOptions

    func run() async throws {
        let signals = ShutdownSignals()
        let env = pipeline.environment
        let logger = try pipeline.makeLogger(label: "duoguard.worker")
        let inputs = env.list(inputTopic, "INPUT_TOPIC")
        // Before the model loads: a bad endpoint fails at once.
        let tracing = try pipeline.tracingExport(serviceName: "duoguard-worker", logger: logger)
        guard !inputs.isEmpty else { throw ValidationError("missing --input-topic (or DUOGUARD_INPUT_TOPIC)") }
        let front = try api.front(env, required: false)
        let apiStops = try api.shutdownSteps(env, front: front)
        let (configuration, model) = try pipeline.makeConfiguration(
            kafka: try pipeline.kafkaConfiguration(clientID: "duoguard-worker"),
            group: try env.required(group, "GROUP", "--group"), inputTopics: inputs,
            outputTopic: try env.required(outputTopic, "OUTPUT_TOPIC", "--output-topic"),
            deadLetterTopic: try env.required(dlqTopic, "DLQ_TOPIC", "--dlq-topic")
        ) { configuration in
            if let host = try env.value(metricsHost, "METRICS_HOST") { configuration.metricsHost = host }
            if let port = try env.value(metricsPort, "METRICS_PORT") { configuration.metricsPort = port }
            configuration.apiServerStops = apiStops
        }
        let worker = ModerationWorker(configuration: configuration, model: model, logger: logger, front: front)
        let grpc = try api.grpc(env, frontDoor: worker.frontDoor, isServing: { worker.isReady })
        try await WorkerRunner.run(
            worker, signals: signals, shutdownLimit: configuration.shutdownLimit, tracing: tracing, logger: logger,
            beside: grpc.map { [$0] } ?? [])
    }
}
