import Prometheus

/// The score cache's Prometheus metrics, in the worker's registry (docs/operations.md).
public final class ScoreCacheMetrics: Sendable {
    let hits: Counter
    let misses: Counter
    let coalesced: Counter
    let evictions: Counter
    let bytes: Gauge
    let capacity: Gauge

    init(registry: PrometheusCollectorRegistry) {
        let metric = WorkerMetrics.metric
        hits = registry.makeCounter(descriptor: metric("duoguard_score_cache_hits_total", "Requests answered from the score cache (no tokenizing, no model)."))
        misses = registry.makeCounter(descriptor: metric("duoguard_score_cache_misses_total", "Requests whose text was not in the score cache."))
        coalesced = registry.makeCounter(descriptor: metric("duoguard_score_cache_coalesced_total", "Requests that missed at intake but were answered without the model when their batch was taken: the same text was scored meanwhile or is in the same batch."))
        evictions = registry.makeCounter(descriptor: metric("duoguard_score_cache_evictions_total", "Least recently used scores dropped to stay within --score-cache-bytes."))
        bytes = registry.makeGauge(descriptor: metric("duoguard_score_cache_bytes", "Estimated bytes held by the score cache (digests and scores only)."))
        capacity = registry.makeGauge(descriptor: metric("duoguard_score_cache_capacity_bytes", "The score cache's bound (--score-cache-bytes; 0: off)."))
    }
}
