import HTTPServer
import Inference
import Logging
import ServiceLifecycle
import Synchronization
import Tracing

/// `duoguard serve`: the model behind the HTTP API, without Kafka. The same front door,
/// batcher and inference loop as a worker's, with only synchronous callers; `/metrics`,
/// `/healthz`, `/readyz` on the metrics port as for a worker. A graceful shutdown stops
/// admitting (new calls get UNAVAILABLE), answers the admitted ones, then closes the ports.
public final class ModerationServer: SupervisedService, Sendable {
    private let model: DuoGuardModel
    private let front: FrontDoorConfiguration
    private let metricsHost: String
    private let metricsPort: Int?
    private let logger: Logger
    public let metrics: WorkerMetrics
    private let batcher: MicroBatcher<BatchItem>
    public let frontDoor: ModerationFrontDoor
    private let thresholds: CategoryThresholds
    private let state = WorkerState()
    private let apiPortBound = Mutex<Int?>(nil)

    public init(
        model: DuoGuardModel, rules: ModerationFrontDoor.Rules, front: FrontDoorConfiguration, maxBatch: Int, maxWait: Duration,
        workerID: String, metricsHost: String, metricsPort: Int?, logger: Logger
    ) {
        self.model = model
        self.front = front
        self.metricsHost = metricsHost
        self.metricsPort = metricsPort
        self.logger = logger
        let metrics = WorkerMetrics()
        self.metrics = metrics
        // Capacity only bounds the stream lane, which `serve` does not use.
        let batcher = MicroBatcher<BatchItem>(
            limits: .init(tokenBudget: model.options.batchTokenBudget, maxItems: maxBatch, maxWait: maxWait, capacity: 1,
                urgentFillTokens: front.syncFillTokens))
        self.batcher = batcher
        self.thresholds = rules.thresholds
        self.frontDoor = ModerationFrontDoor(
            batcher: batcher, model: model, workerID: workerID, rules: rules,
            admission: SyncAdmission(maxRequests: front.maxRequests, maxBytes: front.maxBytes), metrics: metrics, logger: logger)
    }

    /// The API's bound port once listening (useful with port 0).
    public var apiPort: Int? { apiPortBound.withLock { $0 } }

    /// True once serving, until shutdown begins (`/readyz`).
    public var isReady: Bool { state.isReady }

    /// True once a fatal error happened (the process must exit with status 2).
    public var failed: Bool { state.fatalError != nil }

    /// Runs `action` once when the server begins to stop, or now if it has: the process arms
    /// its shutdown deadline with it.
    public func whenStopping(_ action: @escaping @Sendable () -> Void) { state.onStop(action) }

    public func run() async throws {
        let api = try front.startServer(frontDoor: frontDoor, isReady: { [state] in state.isReady }, logger: logger)
        var health: HealthServer?
        if let metricsPort {
            do {
                let routes = HealthRoutes(metrics: metrics, state: state)
                let server: HealthServer
                do {
                    server = try HealthServer(host: metricsHost, port: metricsPort, logger: logger) { routes.respond(to: $0) }
                } catch {
                    throw WorkerError.startup(error.description)
                }
                routes.attach(server)
                health = server
            } catch {
                await api?.shutdown()
                throw error
            }
        }
        apiPortBound.withLock { $0 = api?.port }
        state.onStop { [batcher] in batcher.close() }
        state.markRunning()
        logger.info(
            "serving", metadata: ["model": "\(model.identity.name) \(model.identity.quantization)", "api-port": "\(api.map { String($0.port) } ?? "none")"])
        let loop = InferenceLoop(
            model: model, batcher: batcher, preparer: nil, sender: nil, thresholds: thresholds, metrics: metrics, logger: logger,
            tracing: WorkerTracing(tracer: InstrumentationSystem.tracer, group: ""))
        await withGracefulShutdownHandler {
            await loop.run()
        } onGracefulShutdown: { [state] in
            state.beginStopping()
        }
        await api?.shutdown()
        await health?.shutdown()
        logger.info("stopped")
    }
}
