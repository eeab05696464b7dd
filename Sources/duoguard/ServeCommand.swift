import ArgumentParser
import Inference
import Logging
import ServiceLifecycle
import GRPCFront
import Worker

/// `duoguard serve`: the model behind the HTTP API only, without Kafka, for callers who
/// only want synchronous answers. SIGTERM/SIGINT stop admitting, answer the admitted
/// requests, and exit 0.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the moderation HTTP API (OpenAI-compatible /v1/moderations, /v1/classify) without Kafka."
    )

    @Option(name: .long, help: OptionTable.help("--model"))
    var model: String?
    @OptionGroup var modelArguments: ModelArguments
    @OptionGroup var scoringArguments: ScoringArguments
    @OptionGroup var api: APIOptions
    @Option(name: .long, help: OptionTable.serveHelp("--max-batch"))
    var maxBatch: Int?
    @Option(name: .long, help: OptionTable.serveHelp("--max-wait-ms"))
    var maxWaitMs: Int?
    @Option(name: .long, help: OptionTable.serveHelp("--max-text-bytes"))
    var maxTextBytes: Int?
    @Option(name: .long, help: OptionTable.serveHelp("--metrics-host"))
    var metricsHost: String?
    @Option(name: .long, help: OptionTable.serveHelp("--metrics-port"))
    var metricsPort: Int?
    @Option(name: .long, help: OptionTable.serveHelp("--worker-id"))
    var workerID: String?
    @Option(name: .long, help: OptionTable.serveHelp("--log-level"))
    var logLevel: String?

    func run() async throws {
        let signals = ShutdownSignals()
        let env = Environment.process
        var logger = Logger(label: "duoguard.serve")
        let level = try env.value(logLevel, "LOG_LEVEL") ?? OptionTable.ServeDefaults.logLevel
        guard let parsed = Logger.Level(rawValue: level) else { throw ValidationError("unknown log level '\(level)'") }
        logger.logLevel = parsed
        guard let front = try api.front(env, required: true) else { return }
        let loaded = try DuoGuardModel.load(path: try env.required(model, "MODEL", "--model"), options: try modelArguments.options(env))
        try loaded.checkVocabulary()
        let maxTextBytes = try env.value(maxTextBytes, "MAX_TEXT_BYTES") ?? OptionTable.ServeDefaults.maxTextBytes
        guard maxTextBytes >= 1 else { throw ValidationError("--max-text-bytes must be at least 1") }
        let maxBatch = try env.value(maxBatch, "MAX_BATCH") ?? OptionTable.ServeDefaults.maxBatch
        guard maxBatch >= 1 else { throw ValidationError("--max-batch must be at least 1") }
        let scoring = try scoringArguments.scoring(for: loaded, env)
        do {
            try scoring.validate(batchTokenBudget: loaded.options.batchTokenBudget)
        } catch {
            throw ValidationError("\(error)")
        }
        let server = ModerationServer(
            model: loaded,
            rules: .init(
                maxTextBytes: maxTextBytes, metadataLimits: .init(), scoring: scoring,
                thresholds: try scoringArguments.thresholds(for: loaded, env)),
            front: front, maxBatch: maxBatch, maxWait: try env.milliseconds(maxWaitMs, "MAX_WAIT_MS") ?? .milliseconds(OptionTable.ServeDefaults.maxWaitMs),
            workerID: try env.value(workerID, "WORKER_ID") ?? WorkerConfiguration.defaultWorkerID,
            metricsHost: try env.value(metricsHost, "METRICS_HOST") ?? OptionTable.ServeDefaults.metricsHost,
            metricsPort: try env.value(metricsPort, "METRICS_PORT") ?? OptionTable.ServeDefaults.metricsPort, logger: logger)
        let grpc = try api.grpc(env, frontDoor: server.frontDoor, isServing: { server.isReady })
        // The gRPC port beside the server: shutdown runs in reverse, so it stops taking calls first.
        try await WorkerRunner.run(
            server, signals: signals, shutdownLimit: .seconds(30), stopWhenDone: true, tracing: TracingExport(), logger: logger,
            beside: grpc.map { [$0] } ?? [])
    }
}
