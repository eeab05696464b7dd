import Foundation
import HTTPServer
import Logging
import Synchronization
import TestSupport
import Worker
import XCTest

/// The health/metrics server against hostile and slow clients (issue 13, item 3). Real TCP on
/// loopback, raw bytes from `RawSocket`; no broker needed. Every wait is bounded.
final class HealthServerTests: XCTestCase {
    /// A `/metrics` body of realistic size (about 200 series, 12 KB).
    private static let metricsBody = (0..<200).map { "duoguard_consumer_lag{topic=\"requests\",partition=\"\($0)\"} \($0 * 7)\n" }.joined()

    private static let handler: HealthServer.Handler = { path in
        switch path {
        case "/healthz": return .init(status: 200, body: "ok\n")
        case "/metrics": return .init(status: 200, contentType: "text/plain; version=0.0.4", body: metricsBody)
        case "/big": return .init(status: 200, body: String(repeating: "x", count: 4 << 20))
        default: return .init(status: 404, body: "not found\n")
        }
    }

    private static let logger: Logger = {
        var logger = Logger(label: "health-server-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["DUOGUARD_TEST_LOG"] == nil ? .warning : .debug
        return logger
    }()

    private func makeServer(host: String = "127.0.0.1", _ configuration: HealthServerConfiguration = .init()) throws -> HealthServer {
        try HealthServer(host: host, port: 0, configuration: configuration, logger: Self.logger, handler: Self.handler)
    }

    /// One probe as a kubelet or scraper sends it: a new connection, one request, bounded by
    /// `timeout`. The latency in seconds, or nil when no 200 came in time.
    private func probe(_ port: Int, path: String = "/healthz", host: String = "127.0.0.1", timeout: Double = 1) -> Double? {
        let start = RawSocket.now()
        guard let socket = try? RawSocket(host: host, port: port, timeout: timeout),
            socket.send("GET \(path) HTTP/1.1\r\nHost: probe\r\nUser-Agent: kube-probe/1.31\r\nAccept: */*\r\n\r\n", timeout: timeout),
            let response = try? socket.readResponse(timeout: max(0, timeout - (RawSocket.now() - start))),
            response.status == 200
        else { return nil }
        return RawSocket.now() - start
    }

    /// Waits (bounded) until `condition` holds; false on timeout.
    private func eventually(within seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = RawSocket.now() + seconds
        while RawSocket.now() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return condition()
    }

    private static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    // MARK: Slow and idle clients

    /// Issue 13 item 3 as reported: 20 clients trickling a byte a second stopped every probe.
    func testProbesAnswerWhile20ClientsTrickle() throws {
        let server = try makeServer()
        defer { server.stop() }
        let swarm = SlowClients(host: "127.0.0.1", port: server.port, idle: 0, trickling: 20)
        defer { XCTAssertTrue(swarm.stop(), "slow clients did not stop") }
        Thread.sleep(forTimeInterval: 0.5)
        let latencies = (0..<10).map { _ in probe(server.port) }
        XCTAssertEqual(latencies.compactMap { $0 }.count, 10, "probes answered within 1 s while 20 clients trickle: \(latencies)")
    }

    /// 200 connections (100 idle, 100 trickling a byte a second) stay open while `/healthz`
    /// and `/metrics` are probed for 4 s: every probe answers in < 100 ms. Then the request
    /// deadline disconnects all 200.
    func testProbesAnswerIn100msWhile200SlowClientsAreConnected() throws {
        let requestTimeout = 10.0
        let server = try makeServer(.init(requestTimeout: .seconds(requestTimeout)))
        defer { server.stop() }
        let residentBefore = (ProcessFigures.memory()?.current ?? -1024) / 1024
        let swarm = SlowClients(host: "127.0.0.1", port: server.port, idle: 100, trickling: 100)
        defer { XCTAssertTrue(swarm.stop(), "slow clients did not stop") }
        XCTAssertEqual(swarm.report.opened, 200, "slow clients connected")
        XCTAssertTrue(eventually(within: 2) { server.statistics.open >= 200 }, "server holds the 200 connections: \(server.statistics)")

        var latencies: [Double] = []
        var failures = 0
        let end = RawSocket.now() + 4
        var index = 0
        while RawSocket.now() < end {
            if let latency = probe(server.port, path: index % 2 == 0 ? "/healthz" : "/metrics") {
                latencies.append(latency)
            } else {
                failures += 1
            }
            index += 1
            Thread.sleep(forTimeInterval: 0.02)
        }
        let report = swarm.report
        XCTAssertEqual(report.open, 200, "all slow clients were still connected while probing")
        print("resident memory of the test process (server and clients): \(residentBefore) KiB before the slow clients, \((ProcessFigures.memory()?.current ?? -1024) / 1024) KiB with them")
        let maximum = latencies.max() ?? .nan
        print(
            String(
                format: "health probes with 200 slow clients: %d answered, %d failed, median %.2f ms, p99 %.2f ms, max %.2f ms (load average %@)",
                latencies.count, failures, Self.percentile(latencies, 0.5) * 1000, Self.percentile(latencies, 0.99) * 1000,
                maximum * 1000, ProcessFigures.loadAverage))
        XCTAssertEqual(failures, 0, "probes that got no 200 within 1 s")
        XCTAssertGreaterThan(latencies.count, 50)
        XCTAssertLessThan(maximum, 0.1, "slowest probe")

        // The request deadline disconnects every slow client, counted from its accept.
        XCTAssertTrue(eventually(within: requestTimeout + 3) { swarm.report.open == 0 }, "slow clients still open: \(swarm.report.open)")
        let closed = swarm.report
        XCTAssertEqual(closed.trickleClosedAfter.count, 100)
        XCTAssertEqual(closed.idleClosedAfter.count, 100)
        for after in closed.trickleClosedAfter + closed.idleClosedAfter {
            XCTAssertGreaterThan(after, requestTimeout - 0.5, "closed before its deadline")
            XCTAssertLessThan(after, requestTimeout + 2, "closed long after its deadline")
        }
        let statistics = server.statistics
        XCTAssertEqual(statistics.timedOut, 100, "trickling clients closed with 408: \(statistics)")
        XCTAssertEqual(statistics.idleClosed, 100, "idle clients closed: \(statistics)")
        XCTAssertEqual(statistics.requests, latencies.count)
    }

    /// A started request that does not complete in time gets `408` and a close; a connection
    /// that sends nothing is closed without a response.
    func testIncompleteRequestGets408AtTheDeadline() throws {
        let server = try makeServer(.init(requestTimeout: .milliseconds(500)))
        defer { server.stop() }
        let partial = try RawSocket(host: "127.0.0.1", port: server.port)
        let idle = try RawSocket(host: "127.0.0.1", port: server.port)
        let start = RawSocket.now()
        XCTAssertTrue(partial.send("GET /healthz HTTP/1.1\r\nHost: x\r\n"))
        let response = try partial.readResponse(timeout: 3)
        XCTAssertEqual(response.status, 408)
        XCTAssertEqual(response.header("Connection"), "close")
        var rest: [UInt8] = []
        XCTAssertTrue(partial.waitForClose(timeout: 3, received: &rest), "closed after 408")
        var idleBytes: [UInt8] = []
        XCTAssertTrue(idle.waitForClose(timeout: 3, received: &idleBytes), "idle connection closed")
        XCTAssertEqual(idleBytes, [], "nothing is sent to an idle connection")
        let elapsed = RawSocket.now() - start
        XCTAssertGreaterThan(elapsed, 0.4)
        XCTAssertLessThan(elapsed, 2.5)
        XCTAssertEqual(server.statistics.timedOut, 1)
        XCTAssertEqual(server.statistics.idleClosed, 1)
    }

    // MARK: Connection cap

    /// Full cap, default policy: each new connection closes the oldest, so probes still answer.
    func testOverCapClosesTheOldestAndProbesStillAnswer() throws {
        let server = try makeServer(.init(maxConnections: 50, requestTimeout: .seconds(30)))
        defer { server.stop() }
        let swarm = SlowClients(host: "127.0.0.1", port: server.port, idle: 80, trickling: 0)
        defer { XCTAssertTrue(swarm.stop(), "slow clients did not stop") }
        XCTAssertEqual(swarm.report.opened, 80)
        XCTAssertTrue(eventually(within: 3) { swarm.report.idleClosedAfter.count == 30 }, "30 oldest closed: \(swarm.report)")
        XCTAssertEqual(server.statistics.evicted, 30)
        XCTAssertEqual(server.statistics.open, 50)
        let latencies = (0..<20).map { _ in probe(server.port) }
        XCTAssertEqual(latencies.compactMap { $0 }.count, 20, "probes while the cap is full: \(latencies)")
        print(String(format: "probes at a full cap (closeOldest): max %.2f ms (load average %@)", (latencies.compactMap { $0 }.max() ?? .nan) * 1000, ProcessFigures.loadAverage))
        XCTAssertLessThan(latencies.compactMap { $0 }.max() ?? 1, 0.1)
        XCTAssertLessThanOrEqual(server.statistics.open, 50)
    }

    /// Full cap, `.refuseNew`: new connections are closed at once (counted) and never hang;
    /// probes are refused until slots free up, then answered again.
    func testOverCapRefusesNewConnectionsWhenConfigured() throws {
        let server = try makeServer(.init(maxConnections: 50, whenFull: .refuseNew, requestTimeout: .seconds(30)))
        defer { server.stop() }
        let swarm = SlowClients(host: "127.0.0.1", port: server.port, idle: 80, trickling: 0)
        XCTAssertEqual(swarm.report.opened, 80)
        XCTAssertTrue(eventually(within: 3) { swarm.report.idleClosedAfter.count == 30 }, "30 newest closed: \(swarm.report)")
        XCTAssertEqual(server.statistics.rejected, 30)
        XCTAssertEqual(server.statistics.evicted, 0)
        XCTAssertEqual(server.statistics.open, 50)
        let start = RawSocket.now()
        XCTAssertNil(probe(server.port), "a probe is refused while the cap is full")
        XCTAssertLessThan(RawSocket.now() - start, 0.9, "a refused connection is closed at once, not left hanging")
        XCTAssertTrue(swarm.stop(), "slow clients did not stop")
        XCTAssertTrue(eventually(within: 3) { server.statistics.open == 0 }, "slots freed: \(server.statistics)")
        XCTAssertNotNil(probe(server.port), "answered again once slots are free")
    }

    // MARK: Hostile requests

    /// Request heads over the budget (one long header, a long URL, many headers, a flood of
    /// bytes with no line end) get `431` and the connection is closed.
    func testOversizeRequestHeadsGet431AndClose() throws {
        let server = try makeServer(.init(maxRequestHeadBytes: 8_192))
        defer { server.stop() }
        let cases: [(String, String)] = [
            ("long header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 20_000))\r\n\r\n"),
            ("long URL", "GET /healthz?\(String(repeating: "q", count: 20_000)) HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("200 headers", "GET /healthz HTTP/1.1\r\n" + (0..<200).map { "X-\($0): v\r\n" }.joined() + "\r\n"),
            ("no line end", "GET /" + String(repeating: "a", count: 20_000)),
            ("whitespace", "GET /healthz HTTP/1.1\r\nHost:" + String(repeating: " ", count: 30_000) + "x\r\n\r\n"),
        ]
        for (name, request) in cases {
            let socket = try RawSocket(host: "127.0.0.1", port: server.port)
            socket.send(request, timeout: 2)
            let response = try socket.readResponse(timeout: 3)
            XCTAssertEqual(response.status, 431, name)
            XCTAssertEqual(response.header("Connection"), "close", name)
            var rest: [UInt8] = []
            XCTAssertTrue(socket.waitForClose(timeout: 3, received: &rest), "\(name): connection closed after 431")
        }
        XCTAssertNotNil(probe(server.port), "still serving")
        // A head just under the budget is fine.
        let socket = try RawSocket(host: "127.0.0.1", port: server.port)
        socket.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: \(String(repeating: "p", count: 7_000))\r\n\r\n")
        XCTAssertEqual(try socket.readResponse(timeout: 2).status, 200)
    }

    /// Bytes that are not an acceptable HTTP/1.x request get a 4xx status and a close,
    /// never a crash or a hang; the server keeps answering probes.
    func testMalformedRequestsAreRefusedAndNeverCrash() throws {
        let server = try makeServer(.init(requestTimeout: .seconds(2)))
        defer { server.stop() }
        var generator = SplitMix64(seed: 13)
        let binary = (0..<512).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let tlsClientHello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03] + Array(repeating: 0x42, count: 40)
        let cases: [(name: String, bytes: [UInt8], status: Int)] = [
            ("binary", binary, 400),
            ("NUL bytes", [0, 0, 0, 0, 13, 10, 13, 10], 400),
            ("TLS ClientHello", tlsClientHello, 400),
            ("HTTP/0.9", Array("GET /healthz\r\n\r\n".utf8), 400),
            ("absurd method", Array("FROBNICATE /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8), 400),
            ("method with NUL", Array("G\u{0}T /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8), 400),
            ("header without colon", Array("GET /healthz HTTP/1.1\r\nHost x\r\n\r\n".utf8), 400),
            ("absolute URI", Array("GET http://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8), 400),
            ("asterisk", Array("GET * HTTP/1.1\r\nHost: x\r\n\r\n".utf8), 400),
            ("negative length", Array("GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n".utf8), 400),
            ("huge length", Array("GET /healthz HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n".utf8), 400),
            ("body", Array("GET /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".utf8), 413),
            ("chunked body", Array("GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".utf8), 413),
            ("HTTP/2 preface", Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8), 400),
            ("HTTP/2.0 request line", Array("GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n".utf8), 400),
            ("HTTP/3.0", Array("GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n".utf8), 400),
            ("HTTP/1.9", Array("GET /healthz HTTP/1.9\r\nHost: x\r\n\r\n".utf8), 400),
        ]
        for entry in cases {
            let socket = try RawSocket(host: "127.0.0.1", port: server.port)
            socket.send(entry.bytes)
            do {
                let response = try socket.readResponse(timeout: 3)
                XCTAssertEqual(response.status, entry.status, entry.name)
                XCTAssertEqual(response.header("Connection"), "close", entry.name)
            } catch {
                XCTFail("\(entry.name): \(error)")
            }
            var rest: [UInt8] = []
            XCTAssertTrue(socket.waitForClose(timeout: 3, received: &rest), "\(entry.name): closed after the error")
        }
        // Known methods other than GET/HEAD: 405 with Allow, and the connection stays usable.
        let socket = try RawSocket(host: "127.0.0.1", port: server.port)
        socket.send("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        let refused = try socket.readResponse(timeout: 2)
        XCTAssertEqual(refused.status, 405)
        XCTAssertEqual(refused.header("Allow"), "GET, HEAD")
        socket.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try socket.readResponse(timeout: 2).status, 200)
        XCTAssertNotNil(probe(server.port), "still serving")
        XCTAssertEqual(server.statistics.rejectedRequests, cases.count + 1)
    }

    /// Seeded mutations of valid requests (bytes flipped, inserted, deleted, cut, spliced),
    /// 50 connections at a time: each ends in a well-formed response or a close within the
    /// deadline, the server never crashes, and probes answer afterwards. 500 cases by default
    /// (about 10 s); `DUOGUARD_HEALTH_FUZZ_CASES` sets more.
    func testMutatedRequestsNeverCrashOrHang() throws {
        let server = try makeServer(.init(requestTimeout: .milliseconds(800)))
        defer { server.stop() }
        let seeds = [
            "GET /healthz HTTP/1.1\r\nHost: worker:9464\r\nUser-Agent: kube-probe/1.31\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            "HEAD /metrics HTTP/1.0\r\n\r\n",
            "GET /readyz?verbose=1 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nContent-Length: 0\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n",
        ].map { Array($0.utf8) }
        let interesting: [[UInt8]] = [[0], [13], [10], [13, 10], [32], [58], Array("HTTP/1.1".utf8), Array("Content-Length: 7".utf8), Array("Transfer-Encoding: chunked\r\n".utf8), Array("Connection: Upgrade\r\nUpgrade: websocket\r\n".utf8), [0xff, 0xfe], Array(repeating: 65, count: 300)]
        var generator = SplitMix64(seed: 2026)
        // A longer run: DUOGUARD_HEALTH_FUZZ_CASES=20000 swift test --filter HealthServerTests.testMutated
        let requested = ProcessInfo.processInfo.environment["DUOGUARD_HEALTH_FUZZ_CASES"].flatMap { Int($0) } ?? 500
        let total = max(50, requested / 50 * 50)
        var outcomes: [String: Int] = [:]
        for round in 0..<(total / 50) {
            var sockets: [(RawSocket, [UInt8])] = []
            for _ in 0..<50 {
                var bytes = seeds[Int.random(in: 0..<seeds.count, using: &generator)]
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    let at = Int.random(in: 0...bytes.count, using: &generator)
                    switch Int.random(in: 0..<5, using: &generator) {
                    case 0 where at < bytes.count: bytes[at] = UInt8.random(in: 0...255, using: &generator)
                    case 1: bytes.insert(contentsOf: interesting[Int.random(in: 0..<interesting.count, using: &generator)], at: at)
                    case 2 where at < bytes.count: bytes.remove(at: at)
                    case 3: bytes = Array(bytes[..<at])
                    default: bytes.insert(contentsOf: seeds[0][0..<Int.random(in: 0...seeds[0].count, using: &generator)], at: at)
                    }
                }
                let socket = try RawSocket(host: "127.0.0.1", port: server.port)
                socket.send(bytes, timeout: 1)
                sockets.append((socket, bytes))
            }
            for (socket, bytes) in sockets {
                var received: [UInt8] = []
                let closed = socket.waitForClose(timeout: 5, received: &received)
                let text = String(decoding: received.prefix(12), as: UTF8.self)
                if !closed {
                    // Keep-alive after complete requests is fine; anything else must have ended.
                    guard text.hasPrefix("HTTP/1.") else {
                        XCTFail("round \(round): no response and no close within 5 s for \(String(decoding: bytes.prefix(80), as: UTF8.self).debugDescription)")
                        continue
                    }
                }
                let key = text.hasPrefix("HTTP/1.") ? String(text.dropFirst(9).prefix(3)) : (received.isEmpty ? "closed" : "garbage")
                XCTAssertNotEqual(key, "garbage", "response was not HTTP/1.x: \(received.prefix(40))")
                outcomes[key, default: 0] += 1
            }
            XCTAssertNotNil(probe(server.port), "probe after round \(round)")
        }
        print("health server mutation run: \(total) cases, outcomes by first status \(outcomes.sorted { $0.key < $1.key }), crashes 0")
        XCTAssertEqual(outcomes.values.reduce(0, +), total)
    }

    // MARK: HTTP behaviour

    func testKeepAliveIsCappedAndHeadHasNoBody() throws {
        let server = try makeServer(.init(maxRequestsPerConnection: 3))
        defer { server.stop() }
        let socket = try RawSocket(host: "127.0.0.1", port: server.port)
        socket.send("GET /healthz?probe=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        let first = try socket.readResponse(timeout: 2)
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(String(decoding: first.body, as: UTF8.self), "ok\n")
        XCTAssertNil(first.header("Connection"))
        socket.send("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try socket.readResponse(timeout: 2, bodyExpected: false)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("Content-Length"), String(Self.metricsBody.utf8.count))
        XCTAssertEqual(head.header("Content-Type"), "text/plain; version=0.0.4")
        socket.send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        let last = try socket.readResponse(timeout: 2)
        XCTAssertEqual(last.status, 404)
        XCTAssertEqual(last.header("Connection"), "close", "third request is the last on this connection")
        var rest: [UInt8] = []
        XCTAssertTrue(socket.waitForClose(timeout: 3, received: &rest))
        XCTAssertEqual(rest, [], "no body after a HEAD response")
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        let server = try makeServer()
        defer { server.stop() }
        let socket = try RawSocket(host: "127.0.0.1", port: server.port)
        socket.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try socket.readResponse(timeout: 2).status, 200)
        let metrics = try socket.readResponse(timeout: 2)
        XCTAssertEqual(metrics.status, 200)
        XCTAssertEqual(metrics.body.count, Self.metricsBody.utf8.count)
        XCTAssertEqual(try socket.readResponse(timeout: 2).status, 404)
    }

    /// An upgrade request is answered as a plain request (no protocol switch) and the
    /// connection closed: the decoder stops parsing after an upgrade request.
    func testUpgradeRequestIsAnsweredAndClosed() throws {
        let server = try makeServer()
        defer { server.stop() }
        let socket = try RawSocket(host: "127.0.0.1", port: server.port)
        socket.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        let response = try socket.readResponse(timeout: 2)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Connection"), "close")
        var rest: [UInt8] = []
        XCTAssertTrue(socket.waitForClose(timeout: 2, received: &rest), "closed after the answer")
        XCTAssertNotNil(probe(server.port))
    }

    func testHTTP10IsAnsweredAndClosed() throws {
        let server = try makeServer()
        defer { server.stop() }
        let socket = try RawSocket(host: "127.0.0.1", port: server.port)
        socket.send("GET /healthz HTTP/1.0\r\n\r\n")
        let response = try socket.readResponse(timeout: 2)
        XCTAssertEqual(response.status, 200)
        var rest: [UInt8] = []
        XCTAssertTrue(socket.waitForClose(timeout: 3, received: &rest), "HTTP/1.0 without keep-alive is closed")
    }

    /// A client that asks for a large response and never reads it is closed by the write
    /// deadline; pipelining more requests behind it buffers nothing more.
    func testClientThatDoesNotReadIsClosedByTheWriteDeadline() throws {
        let server = try makeServer(.init(writeTimeout: .milliseconds(500)))
        defer { server.stop() }
        let socket = try RawSocket(host: "127.0.0.1", port: server.port)
        socket.send(String(repeating: "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", count: 20), timeout: 2)
        XCTAssertTrue(eventually(within: 3) { server.statistics.writeTimedOut == 1 }, "write deadline: \(server.statistics)")
        XCTAssertEqual(server.statistics.requests, 1, "the pipelined requests behind the unread one were not answered")
        XCTAssertTrue(eventually(within: 2) { server.statistics.open == 0 })
        XCTAssertNotNil(probe(server.port))
    }

    // MARK: Binding, start-up errors, stop

    func testBindsIPv4IPv6AndLocalhost() throws {
        for (host, connect) in [("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("[::1]", "::1"), ("localhost", "127.0.0.1")] {
            let server = try makeServer(host: host)
            XCTAssertGreaterThan(server.port, 0)
            XCTAssertEqual(server.host, connect, host)
            XCTAssertNotNil(probe(server.port, host: connect), "probe on \(host)")
            if connect == "127.0.0.1" {
                XCTAssertThrowsError(try RawSocket(host: "::1", port: server.port), "\(host) must not listen on ::1")
            }
            server.stop()
        }
    }

    func testStartupErrorsAreClear() throws {
        let first = try makeServer()
        defer { first.stop() }
        let cases: [(String, Int, HealthServerConfiguration, String)] = [
            ("127.0.0.1", first.port, .init(), "address already in use"),
            ("not-a-host", 0, .init(), "'not-a-host' is not an IPv4 or IPv6 address"),
            ("999.1.1.1", 0, .init(), "is not an IPv4 or IPv6 address"),
            ("example.com", 0, .init(), "is not an IPv4 or IPv6 address"),
            ("192.0.2.1", 0, .init(), "address not available"),
            ("127.0.0.1", 70_000, .init(), "port 70000 is not in 0...65535"),
            ("127.0.0.1", -1, .init(), "port -1 is not in 0...65535"),
            ("127.0.0.1", 0, .init(maxConnections: 0), "maxConnections must be at least 1"),
            ("127.0.0.1", 0, .init(requestTimeout: .zero), "requestTimeout must be in"),
        ]
        for (host, port, configuration, expected) in cases {
            do {
                let server = try HealthServer(host: host, port: port, configuration: configuration, logger: Self.logger, handler: Self.handler)
                server.stop()
                XCTFail("\(host):\(port) started")
            } catch {
                let message = error.description
                XCTAssertTrue(message.contains(expected), "\(host):\(port): '\(message)' should say '\(expected)'")
                XCTAssertTrue(message.hasPrefix("metrics server: "), message)
            }
        }
        XCTAssertNotNil(probe(first.port), "the first server is unaffected")
    }

    /// `stop()` returns within its bound while idle, trickling and keep-alive clients are
    /// connected; they all see the close and the port stops accepting.
    func testStopReturnsWithinItsBoundWithClientsConnected() throws {
        let server = try makeServer(.init(requestTimeout: .seconds(30), stopTimeout: .seconds(2)))
        let port = server.port
        let swarm = SlowClients(host: "127.0.0.1", port: port, idle: 50, trickling: 10)
        defer { XCTAssertTrue(swarm.stop(), "slow clients did not stop") }
        let keepAlive = try RawSocket(host: "127.0.0.1", port: port)
        keepAlive.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try keepAlive.readResponse(timeout: 2).status, 200)
        XCTAssertTrue(eventually(within: 2) { server.statistics.open == 61 }, "\(server.statistics)")
        let start = RawSocket.now()
        server.stop()
        let elapsed = RawSocket.now() - start
        print(String(format: "HealthServer.stop() with 61 clients connected: %.1f ms (load average %@)", elapsed * 1000, ProcessFigures.loadAverage))
        XCTAssertLessThan(elapsed, 2.5)
        var rest: [UInt8] = []
        XCTAssertTrue(keepAlive.waitForClose(timeout: 2, received: &rest), "keep-alive client closed")
        XCTAssertTrue(eventually(within: 2) { swarm.report.open == 0 }, "slow clients closed: \(swarm.report.open) open")
        XCTAssertThrowsError(try RawSocket(host: "127.0.0.1", port: port), "port still accepts after stop")
        server.stop()  // a second stop does nothing
    }

    func testAsyncShutdownReturnsWithinItsBound() async throws {
        let server = try makeServer(.init(stopTimeout: .seconds(2)))
        let port = server.port
        let idle = try (0..<20).map { _ in try RawSocket(host: "127.0.0.1", port: port) }
        let start = RawSocket.now()
        await server.shutdown()
        XCTAssertLessThan(RawSocket.now() - start, 2.5)
        for socket in idle {
            var rest: [UInt8] = []
            XCTAssertTrue(socket.waitForClose(timeout: 2, received: &rest))
        }
        await server.shutdown()
    }
}
