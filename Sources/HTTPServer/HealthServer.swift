import Dispatch
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The project's HTTP/1.1 server: `/metrics`, `/healthz` and `/readyz` of the metrics port
/// (routes attached from outside: the worker's `HealthRoutes`), and, with a post handler,
/// the synchronous API (`ModerationAPIRoutes`). Its own target, free of the worker's types.
///
/// Built on SwiftNIO (one event-loop thread of its own, non-blocking sockets), because the
/// port is reachable by anyone on the network and probes must keep being answered while
/// clients misbehave. Each connection has a request deadline (slowloris), a write deadline
/// and an input budget (`431`); the number of connections is capped; only GET and HEAD are
/// served (`405`), requests with bodies are refused (`413`), bytes that are not HTTP/1.0 or
/// 1.1 get `400`. Limits and their defaults: ``HealthServerConfiguration``.
///
/// The handler runs on the server's event-loop thread for every request: it must be quick
/// and must not block (rendering the metrics registry is fine).
///
/// Platforms: tested on Linux (Debian bookworm, x86_64, Swift 6.3). NIOPosix also runs on
/// macOS, where this type builds but has not been tested.
public final class HealthServer: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var body: String
        /// Extra headers (`WWW-Authenticate`, `Retry-After`, ...).
        public var headers: [(String, String)]

        public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String, headers: [(String, String)] = []) {
            self.status = status
            self.contentType = contentType
            self.body = body
            self.headers = headers
        }
    }

    /// A complete POST request: its path (no query), headers and body (at most `maxBodyBytes`).
    public struct PostRequest: Sendable {
        public var path: String
        public var headers: [(String, String)]
        public var body: [UInt8]

        /// The last value of header `name` (case-insensitive).
        public func header(_ name: String) -> String? {
            let wanted = name.lowercased()
            return headers.last { $0.0.lowercased() == wanted }?.1
        }
    }

    public typealias Handler = @Sendable (_ path: String) -> Response
    /// Answers POST requests (the API routes). Runs off the event loop, may take as long as
    /// the request needs (the connection waits; its next request is read after the answer).
    public typealias PostHandler = @Sendable (_ request: PostRequest) async -> Response

    /// Counters since start, for export as metrics.
    public struct Statistics: Sendable, Equatable {
        /// Connections accepted (including ones later evicted).
        public var accepted = 0
        /// Connections closed at once because the cap was reached (`.refuseNew`) or the
        /// server was stopping.
        public var rejected = 0
        /// Open connections closed to make room for a new one (`.closeOldest`).
        public var evicted = 0
        /// Connections closed because a started request head did not complete in time (`408`).
        public var timedOut = 0
        /// Connections closed because nothing arrived in time (idle, or idle keep-alive).
        public var idleClosed = 0
        /// Connections closed because the peer did not take a response in time.
        public var writeTimedOut = 0
        /// Requests refused with 400, 405, 413 or 431.
        public var rejectedRequests = 0
        /// GET/HEAD requests answered by the handler.
        public var requests = 0
        /// Connections open now.
        public var open = 0

        public init() {}
    }

    /// The port actually bound (useful with port 0).
    public let port: Int
    /// The address actually bound, e.g. `127.0.0.1` or `::1`.
    public let host: String
    private let group: MultiThreadedEventLoopGroup
    private let serverChannel: Channel
    private let registry: HealthConnectionRegistry
    private let configuration: HealthServerConfiguration
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)

    /// Binds `host:port` and starts serving.
    ///
    /// - Parameters:
    ///   - host: an IPv4 or IPv6 literal (`0.0.0.0`, `::`, `127.0.0.1`, `::1`, `[::1]`) or
    ///     `localhost` (bound as `127.0.0.1`). No name lookup: start-up never waits for DNS.
    ///   - port: 0...65535; 0 binds any free port, read it from ``port``.
    /// - Throws: ``HTTPServerError`` with the reason (bad host or port, port in use, ...).
    public init(
        host: String = "0.0.0.0", port: Int, configuration: HealthServerConfiguration = .init(), logger: Logger,
        name: String = "metrics server", postHandler: PostHandler? = nil, handler: @escaping Handler
    ) throws(HTTPServerError) {
        var configuration = configuration
        if postHandler == nil { configuration.maxBodyBytes = 0 }
        if let problem = configuration.validationError() { throw HTTPServerError("\(name): \(problem)") }
        guard (0...65_535).contains(port) else { throw HTTPServerError("\(name): port \(port) is not in 0...65535") }
        let address = try Self.address(host: host, port: port, name: name)
        let registry = HealthConnectionRegistry(maxConnections: configuration.maxConnections, whenFull: configuration.whenFull)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let decoderLimits = Self.decoderLimits(configuration)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: Int32(configuration.backlog))
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Drain the accept queue quickly under a connection flood: a full backlog drops
            // SYNs, and a dropped probe SYN is retried by the kernel only after 1 s.
            .serverChannelOption(.maxMessagesPerRead, value: 64)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1_024, maximum: 16_384))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    switch registry.admit(channel) {
                    case .refused:
                        channel.close(promise: nil)
                        return
                    case .admittedClosing(let oldest):
                        oldest.close(promise: nil)
                    case .admitted:
                        break
                    }
                    channel.closeFuture.whenComplete { _ in registry.remove(channel) }
                    let connectionGuard = HealthConnectionGuard(configuration: configuration, registry: registry)
                    let operations = channel.pipeline.syncOperations
                    try operations.addHandler(connectionGuard)
                    try operations.configureHTTPServerPipeline(
                        withPipeliningAssistance: true, withServerUpgrade: nil, withErrorHandling: false,
                        withOutboundHeaderValidation: true, withEncoderConfiguration: .init(),
                        withDecoderLimitConfiguration: decoderLimits)
                    try operations.addHandler(
                        HealthRequestHandler(
                            handler: handler, postHandler: postHandler, connectionGuard: connectionGuard, registry: registry,
                            maxRequests: configuration.maxRequestsPerConnection, maxBodyBytes: configuration.maxBodyBytes))
                }
            }
        let channel: Channel
        do {
            channel = try bootstrap.bind(to: address).wait()
        } catch {
            Self.shutdown(group, within: configuration.stopTimeout)
            throw HTTPServerError("\(name): cannot listen on \(Self.display(address)): \(Self.reason(error))")
        }
        self.group = group
        self.serverChannel = channel
        self.registry = registry
        self.configuration = configuration
        self.logger = logger
        self.port = channel.localAddress?.port ?? port
        self.host = channel.localAddress?.ipAddress ?? host
        logger.info(
            "\(name) listening",
            metadata: ["address": "\(Self.display(channel.localAddress ?? address))", "max-connections": "\(configuration.maxConnections)"])
    }

    deinit {
        if !stopped.load(ordering: .acquiring) {
            group.shutdownGracefully { _ in }
        }
    }

    /// Counters since start, and the connections open now.
    public var statistics: Statistics { registry.statistics }

    /// Stops listening, closes every connection and ends the event-loop thread, waiting at
    /// most `stopTimeout` (default 2 s). Blocks the calling thread for that long at worst;
    /// from async code prefer ``shutdown()``. Calling it again does nothing.
    public func stop() {
        guard beginStop() else { return }
        let done = DispatchSemaphore(value: 0)
        group.shutdownGracefully(queue: .global()) { _ in done.signal() }
        if done.wait(timeout: .now() + Self.seconds(configuration.stopTimeout)) == .timedOut {
            logger.warning("metrics server: event loop did not stop within \(configuration.stopTimeout); continuing")
        }
    }

    /// ``stop()`` without blocking a thread: returns once the server is down or after
    /// `stopTimeout`, whichever is first.
    public func shutdown() async {
        guard beginStop() else { return }
        let resumed = Atomic<Bool>(false)
        let timeout = Self.seconds(configuration.stopTimeout)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeOnce: @Sendable () -> Void = {
                if !resumed.exchange(true, ordering: .acquiringAndReleasing) { continuation.resume() }
            }
            group.shutdownGracefully(queue: .global()) { _ in resumeOnce() }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { resumeOnce() }
        }
    }

    /// Marks the server stopped and closes its sockets; false when it already was.
    private func beginStop() -> Bool {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return false }
        let open = registry.beginStopping()
        serverChannel.close(promise: nil)
        for channel in open { channel.close(promise: nil) }
        logger.debug("metrics server stopping", metadata: ["open-connections": "\(open.count)"])
        return true
    }

    // MARK: Helpers

    /// Parses `host` as an IP literal (or `localhost`) without any name lookup.
    private static func address(host: String, port: Int, name: String) throws(HTTPServerError) -> SocketAddress {
        var literal = host
        if literal == "localhost" { literal = "127.0.0.1" }
        if literal.hasPrefix("["), literal.hasSuffix("]") { literal = String(literal.dropFirst().dropLast()) }
        do {
            return try SocketAddress(ipAddress: literal, port: port)
        } catch {
            throw HTTPServerError("\(name): '\(host)' is not an IPv4 or IPv6 address (use a literal such as 0.0.0.0, ::, 127.0.0.1, ::1, or localhost)")
        }
    }

    private static func decoderLimits(_ configuration: HealthServerConfiguration) -> NIOHTTPDecoderLimitConfiguration {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = configuration.maxRequestHeadBytes
        limits.maxHeaderListSize = configuration.maxRequestHeadBytes
        limits.maxHeaderFieldCount = 100
        return limits
    }

    private static func display(_ address: SocketAddress) -> String {
        let ip = address.ipAddress ?? "?"
        let port = address.port.map(String.init) ?? "?"
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    private static func reason(_ error: Error) -> String {
        if let error = error as? IOError {
            switch error.errnoCode {
            case EADDRINUSE: return "address already in use (another process listens on this port)"
            case EADDRNOTAVAIL: return "address not available on this machine"
            case EACCES: return "permission denied"
            default: return "\(error)"
            }
        }
        return "\(error)"
    }

    private static func shutdown(_ group: MultiThreadedEventLoopGroup, within timeout: Duration) {
        let done = DispatchSemaphore(value: 0)
        group.shutdownGracefully(queue: .global()) { _ in done.signal() }
        _ = done.wait(timeout: .now() + seconds(timeout))
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
