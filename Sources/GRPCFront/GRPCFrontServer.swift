import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import ServiceLifecycle
import Worker

/// The gRPC port of a worker or of `duoguard serve`: the Moderation service and health
/// checking over plaintext HTTP/2 (TLS is the ingress's job, as for the HTTP API).
/// Bounds: request messages up to `maxMessageBytes` (larger: RESOURCE_EXHAUSTED from the
/// transport), at most `maxConcurrentStreams` calls per connection, idle connections closed
/// after `maxIdle`; admission control is the front door's.
public final class GRPCFrontServer: Service, Sendable {
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let transport: HTTP2ServerTransport.Posix
    private let health: GRPCHealthService

    public init(
        host: String, port: Int, frontDoor: ModerationFrontDoor, isServing: @escaping @Sendable () -> Bool,
        maxMessageBytes: Int = 1 << 20, maxConcurrentStreams: Int = 100, maxIdle: Duration = .seconds(300)
    ) {
        transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: host == "localhost" ? "127.0.0.1" : host, port: port), transportSecurity: .plaintext,
            config: .defaults { config in
                config.rpc.maxRequestPayloadSize = maxMessageBytes
                config.http2.maxConcurrentStreams = maxConcurrentStreams
                config.connection.maxIdleTime = maxIdle
            })
        health = GRPCHealthService(isServing: isServing)
        server = GRPCServer(transport: transport, services: [ModerationGRPCService(frontDoor: frontDoor), health])
    }

    /// Serves until a graceful shutdown (or ``stop()``); throws when the port cannot be bound.
    /// A graceful shutdown lets running calls finish for at most `ShutdownBound.grpcServerStop`,
    /// then cancels them (a client holding a `ClassifyStream` open must not hold the worker's
    /// stop past its bound).
    public func run() async throws {
        let serving = Task { [server] in try await server.serve() }
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                do {
                    try await serving.value
                } catch where health.isStopping {
                    // Cut short at the end of the stop's bound: a stop, not a failure.
                }
            } onGracefulShutdown: { [self] in
                stop()
                // Cancelling `serve()` closes the server and cancels the calls still running.
                Task {
                    try? await Task.sleep(for: ShutdownBound.grpcServerStop)
                    serving.cancel()
                }
            }
        } onCancel: {
            serving.cancel()
        }
    }

    /// The bound port, once listening.
    public func port() async throws -> Int? {
        try await transport.listeningAddress.ipv4?.port
    }

    /// Stops accepting calls; running ones finish, health watches end (NOT_SERVING first).
    public func stop() {
        health.stopWatching()
        server.beginGracefulShutdown()
    }
}
