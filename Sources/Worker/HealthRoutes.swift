/// What `/metrics`, `/healthz` and `/readyz` answer: the worker's side of the health server.
///
/// `/healthz` is liveness (the process serves HTTP: it is not wedged); `/readyz` is
/// readiness (consuming, not shutting down, no fatal error), so an orchestrator restarts
/// only a dead process and routes around one that is stopping.
struct HealthRoutes: Sendable {
    let metrics: WorkerMetrics
    let state: WorkerState

    func respond(to path: String) -> HealthServer.Response {
        switch path {
        case "/metrics":
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
