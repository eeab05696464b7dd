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
        server = GRPCServer(
            transport: transport,
            services: [ModerationGRPCService(frontDoor: frontDoor), GRPCHealthService(isServing: isServing)])
    }

    /// Serves until a graceful shutdown (or ``stop()``); throws when the port cannot be bound.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: { [server] in
            server.beginGracefulShutdown()
        }
    }

    /// The bound port, once listening.
    public func port() async throws -> Int? {
        try await transport.listeningAddress.ipv4?.port
    }

    /// Stops accepting calls; running ones finish.
    public func stop() {
        server.beginGracefulShutdown()
    }
}
