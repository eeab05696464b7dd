import NIOCore

/// The first handler of every health-server connection, next to the socket: it owns the
/// connection's deadlines and input budget, and closes it when the peer misbehaves.
///
/// - Request deadline: from accept (or the end of the previous response) a complete request
///   head must arrive within `requestTimeout`, however slowly its bytes trickle in.
/// - Input budget: at most `maxRequestHeadBytes` (plus `maxBodyBytes` when the server takes
///   bodies) raw bytes are read while a request is incomplete; more gets `431`. This bounds
///   the HTTP decoder's buffer as well.
/// - Write deadline: each response must be taken by the peer within `writeTimeout`.
///
/// Error responses written here are raw bytes straight to the socket, so they never depend
/// on the HTTP state machines behind this handler. Closing is graceful: output is shut first
/// and input drained for a short while, so the peer reads the error instead of a reset.
final class HealthConnectionGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How long a closing connection's input is drained before the socket is closed anyway.
    static let linger = TimeAmount.seconds(1)

    private let configuration: HealthServerConfiguration
    private let registry: HealthConnectionRegistry
    private var context: ChannelHandlerContext?
    /// Raw bytes read since the last complete request (or since accept).
    private var bytesSinceRequest = 0
    private var requestDeadline: Scheduled<Void>?
    private var closing = false

    init(configuration: HealthServerConfiguration, registry: HealthConnectionRegistry) {
        self.configuration = configuration
        self.registry = registry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { armRequestDeadline() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        requestDeadline?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        armRequestDeadline()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        requestDeadline?.cancel()
        requestDeadline = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }  // draining: the peer's bytes are read and dropped
        let bytes = unwrapInboundIn(data).readableBytes
        let (sum, overflow) = bytesSinceRequest.addingReportingOverflow(bytes)
        guard !overflow, sum <= configuration.maxRequestHeadBytes + configuration.maxBodyBytes else {
            registry.count(\.rejectedRequests)
            reject(.requestHeaderFieldsTooLarge)
            return
        }
        bytesSinceRequest = sum
        context.fireChannelRead(data)
    }

    // MARK: Called by the HTTP handler (same event loop)

    /// A complete request arrived: its deadline is met and its bytes no longer count.
    func requestReceived() {
        bytesSinceRequest = 0
        requestDeadline?.cancel()
        requestDeadline = nil
    }

    /// A response is being written: close the connection if it is not taken in time.
    func watchResponse(_ written: EventLoopFuture<Void>) {
        guard let context else { return }
        let loop = context.eventLoop.assumeIsolated()
        let deadline = loop.scheduleTask(in: TimeAmount(configuration.writeTimeout)) { [self] in
            registry.count(\.writeTimedOut)
            self.context?.close(promise: nil)
        }
        written.assumeIsolated().whenComplete { _ in deadline.cancel() }
    }

    /// The response is out and the connection stays open: wait for the next request.
    func readyForNextRequest() {
        armRequestDeadline()
    }

    /// Answers with `status` (raw, `Connection: close`) and closes. The caller counts why.
    func reject(_ status: HTTPStatusLine) {
        guard !closing, let context else { return }
        let body = "\(status.reason.lowercased())\n"
        var buffer = context.channel.allocator.buffer(capacity: 160)
        buffer.writeString(
            "HTTP/1.1 \(status.code) \(status.reason)\r\nContent-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        closeGracefully()
    }

    /// Shuts output (after what was written), drains input for `linger`, then closes.
    func closeGracefully() {
        guard !closing, let context else { return }
        closing = true
        requestDeadline?.cancel()
        requestDeadline = nil
        context.close(mode: .output, promise: nil)
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.linger) { [self] in
            self.context?.close(promise: nil)
        }
    }

    private func armRequestDeadline() {
        guard !closing, let context else { return }
        requestDeadline?.cancel()
        requestDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(configuration.requestTimeout)) {
            [self] in
            requestDeadline = nil
            if bytesSinceRequest == 0 {
                registry.count(\.idleClosed)
                self.context?.close(promise: nil)
            } else {
                registry.count(\.timedOut)
                reject(.requestTimeout)
            }
        }
    }
}

/// A status the connection guard answers with itself.
struct HTTPStatusLine {
    var code: Int
    var reason: String

    static let badRequest = HTTPStatusLine(code: 400, reason: "Bad Request")
    static let requestTimeout = HTTPStatusLine(code: 408, reason: "Request Timeout")
    static let lengthRequired = HTTPStatusLine(code: 411, reason: "Length Required")
    static let contentTooLarge = HTTPStatusLine(code: 413, reason: "Content Too Large")
    static let requestHeaderFieldsTooLarge = HTTPStatusLine(code: 431, reason: "Request Header Fields Too Large")
}
