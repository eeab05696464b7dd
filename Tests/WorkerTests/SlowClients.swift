import Foundation
import Synchronization

/// A swarm of hostile HTTP clients on their own thread: some connect and send nothing, some
/// trickle a request one byte per `interval` (slowloris). Records when the server closes each
/// connection, so a test can check both that probes survive the swarm and that the server's
/// deadlines disconnect it.
final class SlowClients: Sendable {
    struct Report: Sendable {
        /// Connections that were established.
        var opened = 0
        /// Connect attempts that failed or timed out.
        var failedToConnect = 0
        /// Seconds from each connection's establishment to the server closing it.
        var idleClosedAfter: [Double] = []
        var trickleClosedAfter: [Double] = []
        /// Connections still open now.
        var open = 0
    }

    private let state = Mutex(Report())
    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// Starts connecting `idle` + `trickling` clients to `host:port` and returns once every
    /// connect has succeeded or failed (bounded: 3 s per connect).
    init(host: String, port: Int, idle: Int, trickling: Int, interval: Double = 1,
         request: String = "GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Padding: \(String(repeating: "a", count: 200))\r\n\r\n") {
        let connected = DispatchSemaphore(value: 0)
        let bytes = Array(request.utf8)
        let thread = Thread { [self] in
            var sockets: [(socket: RawSocket, trickles: Bool, open: Bool, since: Double)] = []
            for index in 0..<(idle + trickling) {
                if let socket = try? RawSocket(host: host, port: port, timeout: 3) {
                    sockets.append((socket, index >= idle, true, RawSocket.now()))
                } else {
                    self.state.withLock { $0.failedToConnect += 1 }
                }
            }
            self.state.withLock {
                $0.opened = sockets.count
                $0.open = sockets.count
            }
            connected.signal()
            var sent = 0
            var nextSend = RawSocket.now()
            while !stopRequested.load(ordering: .relaxed) {
                let now = RawSocket.now()
                if now >= nextSend, sent < bytes.count {
                    for index in sockets.indices where sockets[index].trickles && sockets[index].open {
                        sockets[index].socket.send([bytes[sent]], timeout: 0.01)
                    }
                    sent += 1
                    nextSend = now + interval
                }
                for index in sockets.indices where sockets[index].open {
                    switch sockets[index].socket.read(timeout: 0) {
                    case .closed:
                        sockets[index].open = false
                        let after = RawSocket.now() - sockets[index].since
                        let trickles = sockets[index].trickles
                        self.state.withLock {
                            if trickles { $0.trickleClosedAfter.append(after) } else { $0.idleClosedAfter.append(after) }
                            $0.open -= 1
                        }
                    case .bytes, .timedOut:
                        break
                    }
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
            for entry in sockets { entry.socket.close() }
            self.finished.signal()
        }
        thread.name = "slow-clients"
        thread.start()
        // Each connect is bounded by 1 s; the extra seconds cover a loaded machine.
        _ = connected.wait(timeout: .now() + 3 * Double(idle + trickling) + 5)
    }

    var report: Report { self.state.withLock { $0 } }

    /// Stops the swarm and closes its sockets; false if its thread did not finish in 5 s.
    func stop() -> Bool {
        guard !stopRequested.exchange(true, ordering: .relaxed) else { return true }
        return finished.wait(timeout: .now() + 5) == .success
    }
}
