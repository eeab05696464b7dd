import Prometheus

/// A yielding replay's Prometheus metrics, in the worker's registry (docs/operations.md).
public final class ReplayYieldMetrics: Sendable {
    let yielding: Gauge
    let liveLag: Gauge
    let pauses: Counter
    let pausedSeconds: Gauge

    init(registry: PrometheusCollectorRegistry) {
        let metric = WorkerMetrics.metric
        yielding = registry.makeGauge(descriptor: metric("duoguard_replay_yielding", "1 while the replay is paused because the live group's lag is above --max-live-lag."))
        liveLag = registry.makeGauge(descriptor: metric("duoguard_replay_live_lag", "The live group's lag (messages not committed) at the last reading."))
        pauses = registry.makeCounter(descriptor: metric("duoguard_replay_yield_pauses_total", "Times the replay paused for live traffic."))
        pausedSeconds = registry.makeGauge(descriptor: metric("duoguard_replay_yield_paused_seconds", "Seconds the replay has spent paused for live traffic."))
    }
}
