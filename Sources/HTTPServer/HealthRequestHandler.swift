import NIOCore
import NIOHTTP1

/// Answers the health server's requests, one at a time per connection: GET and HEAD through
/// the handler; POST with a body of announced length up to `maxBodyBytes` through the post
/// handler when there is one (the API routes), off the event loop; keep-alive up to a cap.
///
/// Sits behind NIO's HTTP/1 decoder and its pipelining handler, which hands over one request
/// at a time and stops reading until that request's response is written. This handler also
/// waits for the previous response to be *taken by the peer* before answering the next
/// pipelined one, so a client that sends requests and never reads holds at most one response
/// in memory (and is closed by the write deadline).
final class HealthRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private struct Request {
        var head: HTTPRequestHead
        var body: [UInt8] = []
    }

    private let handler: HealthServer.Handler
    private let postHandler: HealthServer.PostHandler?
    private let maxBodyBytes: Int
    private let connectionGuard: HealthConnectionGuard
    private let registry: HealthConnectionRegistry
    private let maxRequests: Int
    private var current: Request?
    /// A complete request that waits for the previous response to be taken.
    private var waiting: Request?
    private var writing = false
    private var served = 0

    init(
        handler: @escaping HealthServer.Handler, postHandler: HealthServer.PostHandler?, connectionGuard: HealthConnectionGuard,
        registry: HealthConnectionRegistry, maxRequests: Int, maxBodyBytes: Int
    ) {
        self.handler = handler
        self.postHandler = postHandler
        self.maxBodyBytes = postHandler == nil ? 0 : maxBodyBytes
        self.connectionGuard = connectionGuard
        self.registry = registry
        self.maxRequests = maxRequests
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if let problem = problem(with: head) {
                registry.count(\.rejectedRequests)
                connectionGuard.reject(problem)
                return
            }
            current = Request(head: head)
        case .body(var chunk):
            // Only POSTs that announced a length within `maxBodyBytes` get here (the decoder
            // delivers no more than announced); the check is a second fence.
            // After a refused head, `current` is nil and the connection is closing: drop it.
            guard let request = current else { return }
            guard request.body.count + chunk.readableBytes <= maxBodyBytes else {
                registry.count(\.rejectedRequests)
                connectionGuard.reject(.contentTooLarge)
                return
            }
            current?.body.append(contentsOf: chunk.readBytes(length: chunk.readableBytes) ?? [])
        case .end:
            connectionGuard.requestReceived()
            guard let request = current else { return }
            current = nil
            if writing {
                waiting = request
            } else {
                respond(to: request, context: context)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Decoder errors: the bytes are not HTTP/1 we accept. Anything else (a reset): close.
        guard let parserError = error as? HTTPParserError else {
            context.close(promise: nil)
            return
        }
        registry.count(\.rejectedRequests)
        connectionGuard.reject(parserError == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest)
    }

    /// Why a request head is refused before any handler runs, or nil when it is acceptable.
    private func problem(with head: HTTPRequestHead) -> HTTPStatusLine? {
        // HTTP/0.9 (which the parser accepts) has no status line to answer with; the parser
        // itself refuses other versions.
        if head.version.major != 1 { return .badRequest }
        let lengths = head.headers["content-length"]
        let takesBody = head.method == .POST && maxBodyBytes > 0
        if !head.headers["transfer-encoding"].isEmpty {
            return takesBody ? .lengthRequired : .contentTooLarge
        }
        if lengths.contains(where: { $0 != "0" }) {
            // NIO's parser refuses conflicting or malformed lengths itself.
            guard takesBody, lengths.count == 1, let length = Int(lengths[0]), length <= maxBodyBytes else {
                return .contentTooLarge
            }
        }
        guard head.uri.hasPrefix("/") else { return .badRequest }
        return nil
    }

    private func respond(to request: Request, context: ChannelHandlerContext) {
        let head = request.head
        served += 1
        // After an upgrade request NIO's decoder stops parsing (the bytes that follow belong
        // to the new protocol); no upgrade is offered, so the connection ends with this answer.
        let keepAlive = head.isKeepAlive && served < maxRequests && !head.headers.contains(name: "upgrade")
        let path = String(head.uri.prefix { $0 != "?" && $0 != "#" })
        switch head.method {
        case .GET, .HEAD:
            registry.count(\.requests)
            write(handler(path), to: head, keepAlive: keepAlive, context: context)
        case .POST where postHandler != nil:
            registry.count(\.requests)
            guard let postHandler else { return }
            let post = HealthServer.PostRequest(path: path, headers: head.headers.map { ($0.name, $0.value) }, body: request.body)
            // The answer may take the model's time: computed off the event loop, written back on it.
            writing = true
            let loop = context.eventLoop
            let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
            Task {
                let response = await postHandler(post)
                loop.execute { bound.value.handler.write(response, to: head, keepAlive: keepAlive, context: bound.value.context) }
            }
        default:
            registry.count(\.rejectedRequests)
            let allowed = postHandler == nil ? "GET, HEAD" : "GET, HEAD, POST"
            write(
                .init(status: 405, body: "method not allowed\n", headers: [("Allow", allowed)]), to: head, keepAlive: keepAlive,
                context: context)
        }
    }

    private func write(_ response: HealthServer.Response, to head: HTTPRequestHead, keepAlive: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        let extra = response.headers
        let body = Array(response.body.utf8)
        var headers = HTTPHeaders([
            ("Content-Type", response.contentType), ("Content-Length", String(body.count)),
        ])
        headers.add(contentsOf: extra)
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if head.version.minor == 0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        let status = (100...599).contains(response.status) ? response.status : 500
        writing = true
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: status), headers: headers))),
            promise: nil)
        if head.method != .HEAD, !body.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        connectionGuard.watchResponse(written)
        written.assumeIsolated().whenComplete { [self] result in
            writing = false
            guard case .success = result, keepAlive else {
                connectionGuard.closeGracefully()
                return
            }
            if let next = waiting {
                waiting = nil
                respond(to: next, context: context)
            } else {
                connectionGuard.readyForNextRequest()
            }
        }
    }
}
