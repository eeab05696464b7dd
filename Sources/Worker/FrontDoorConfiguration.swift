import HTTPServer
import Logging

/// The synchronous entry (HTTP API) of a worker or of `duoguard serve`: where it listens,
/// who may call, and how much it admits at once.
public struct FrontDoorConfiguration: Sendable {
    /// Address the API binds to (IP literal or `localhost`). Default `0.0.0.0`.
    public var httpHost: String
    /// Port of the HTTP API (`/v1/moderations`, `/v1/classify`); 0 binds any free port; nil:
    /// no HTTP API (the limits still apply to the gRPC service).
    public var httpPort: Int?
    /// Bearer token callers must present (read from a file by the command); nil: open.
    public var apiKey: String?
    /// Synchronous requests admitted at once (each text of an array counts). Default 64.
    public var maxRequests: Int
    /// Bytes of text admitted at once. Default 4 MiB.
    public var maxBytes: Int
    /// Tokens up to which Kafka requests fill a batch that carries synchronous ones
    /// (``MicroBatcher/Limits/urgentFillTokens``). Default 0: a caller's batch is its own, so it
    /// waits at most for the running batch plus its idle cost.
    public var syncFillTokens = FrontDoorConfiguration.defaultSyncFillTokens
    public static let defaultSyncFillTokens = 0
    /// Connection caps, deadlines and body limit of the HTTP server (body default 1 MiB,
    /// room for the OpenAI array form of `maxInputs` texts at the default `--max-text-bytes`).
    public var server: HealthServerConfiguration

    public init(
        httpHost: String = "0.0.0.0", httpPort: Int?, apiKey: String? = nil, maxRequests: Int = 64, maxBytes: Int = 4 << 20,
        server: HealthServerConfiguration = FrontDoorConfiguration.defaultServer
    ) {
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.apiKey = apiKey
        self.maxRequests = maxRequests
        self.maxBytes = maxBytes
        self.server = server
    }

    /// The API server's defaults: the health server's, with 1 MiB bodies, a 30 s request
    /// deadline (a body takes longer to send than a probe) and 1,024 connections.
    public static let defaultServer: HealthServerConfiguration = {
        var server = HealthServerConfiguration(maxConnections: 1_024, requestTimeout: .seconds(30), writeTimeout: .seconds(10))
        server.maxBodyBytes = 1 << 20
        return server
    }()

    /// A description of the first invalid value, or nil.
    func validationError() -> String? {
        if maxRequests < 1 { return "--max-sync-requests must be at least 1 (got \(maxRequests))" }
        if syncFillTokens < 0 { return "--sync-fill-tokens must not be negative (got \(syncFillTokens))" }
        if maxBytes < 1 { return "--max-sync-bytes must be at least 1 (got \(maxBytes))" }
        if let apiKey, apiKey.isEmpty { return "the API key is empty" }
        return nil
    }

    /// Starts the HTTP API in front of `frontDoor`: POST routes of ``ModerationAPIRoutes``,
    /// and the same `/healthz`, `/readyz` as the metrics port (so a load balancer can probe the
    /// port it sends traffic to; `/metrics` stays on the metrics port).
    func startServer(frontDoor: ModerationFrontDoor, isReady: @escaping @Sendable () -> Bool, logger: Logger) throws(WorkerError)
        -> HealthServer?
    {
        if let problem = validationError() { throw .startup("API server: \(problem)") }
        guard let httpPort else { return nil }
        let routes = ModerationAPIRoutes(frontDoor: frontDoor, apiKey: apiKey)
        do {
            return try HealthServer(
            host: httpHost, port: httpPort, configuration: server, logger: logger, name: "API server",
            postHandler: { await routes.respond(to: $0) }
        ) { path in
            switch path {
            case "/healthz": .init(status: 200, body: "ok\n")
            case "/readyz": isReady() ? .init(status: 200, body: "ready\n") : .init(status: 503, body: "not ready\n")
            default: .init(status: 404, body: "not found\n")
            }
            }
        } catch {
            throw .startup(error.description)
        }
    }
}
