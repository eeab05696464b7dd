import Foundation
import Logging
import Synchronization
import Worker
import XCTest

final class HealthServerTests: XCTestCase {
    private static let handler: HealthServer.Handler = { path in
        switch path {
        case "/healthz": return .init(status: 200, body: "ok\n")
        case "/metrics": return .init(status: 200, contentType: "text/plain; version=0.0.4", body: "duoguard_up 1\n")
        default: return .init(status: 404, body: "not found\n")
        }
    }

    /// One probe as a kubelet sends it: a new connection, one request, bounded by `timeout`.
    /// Returns the latency in seconds, or nil when no 200 came in time.
    private func probe(_ port: Int, path: String = "/healthz", host: String = "127.0.0.1", timeout: Double = 1) -> Double? {
        let start = RawSocket.now()
        guard let socket = try? RawSocket(host: host, port: port, timeout: timeout),
            socket.send("GET \(path) HTTP/1.1\r\nHost: probe\r\n\r\n", timeout: timeout),
            let response = try? socket.readResponse(timeout: max(0, timeout - (RawSocket.now() - start))),
            response.status == 200
        else { return nil }
        return RawSocket.now() - start
    }

    /// Issue 13 item 3: 20 clients trickling a byte a second must not stop probes.
    func testProbesAnswerWhile20ClientsTrickle() throws {
        let server = try HealthServer(host: "127.0.0.1", port: 0, logger: Logger(label: "health-test"), handler: Self.handler)
        defer { server.stop() }
        let swarm = SlowClients(host: "127.0.0.1", port: server.port, idle: 0, trickling: 20)
        defer { XCTAssertTrue(swarm.stop(), "slow clients did not stop") }
        Thread.sleep(forTimeInterval: 0.5)
        let latencies = (0..<10).map { _ in probe(server.port) }
        XCTAssertEqual(latencies.compactMap { $0 }.count, 10, "probes answered within 1 s while 20 clients trickle: \(latencies)")
    }
}
