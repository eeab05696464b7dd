import HTTPServer
import Synchronization

/// What `/metrics`, `/healthz` and `/readyz` answer: the worker's side of the health server.
///
/// `/healthz` is liveness (the process serves HTTP: it is not wedged); `/readyz` is
/// readiness (consuming, not shutting down, no fatal error), so an orchestrator restarts
/// only a dead process and routes around one that is stopping. `/metrics` includes the
/// health server's own connection counters (slow or hostile clients show up there).
final class HealthRoutes: Sendable {
    private let metrics: WorkerMetrics
    private let state: WorkerState
    private let server = Mutex<HealthServer?>(nil)

    init(metrics: WorkerMetrics, state: WorkerState) {
        self.metrics = metrics
        self.state = state
    }

    /// The server whose statistics `/metrics` reports (set once it is listening).
    func attach(_ server: HealthServer) {
        self.server.withLock { $0 = server }
    }

    func respond(to path: String) -> HealthServer.Response {
        switch path {
        case "/metrics":
            if let statistics = server.withLock({ $0?.statistics }) { metrics.record(statistics) }
            return .init(status: 200, contentType: "text/plain; version=0.0.4", body: metrics.render())
        case "/healthz":
            return .init(status: 200, body: "ok\n")
        case "/readyz":
            return state.isReady ? .init(status: 200, body: "ready\n") : .init(status: 503, body: "not ready\n")
        default:
            return .init(status: 404, body: "not found\n")
        }
    }
}
