import Prometheus
import Synchronization

/// Metrics of synchronous callers, in the worker's registry, labelled by entry point
/// (`http`, `grpc`) like the rest by their dimension: answers by status code, and the time
/// from admission to answer.
public final class FrontDoorMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let answers = Mutex<[String: Counter]>([:])
    private let latency = Mutex<[String: ValueHistogram]>([:])
    private let stages = Mutex<[String: ValueHistogram]>([:])
    let admitted: Gauge

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        admitted = registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: "duoguard_sync_admitted", unitName: "", helpText: "Synchronous requests admitted and not yet answered."))
    }

    /// Counts an answer of `entry` with status `code` (the gRPC code name, e.g. `OK`, `RESOURCE_EXHAUSTED`).
    func answered(entry: String, code: String, seconds: Double?) {
        let counter = answers.withLock { counters in
            let key = "\(entry)\u{0}\(code)"
            if let counter = counters[key] { return counter }
            let counter = registry.makeCounter(
                descriptor: MetricNameDescriptor(metricName: "duoguard_sync_requests_total", unitName: "", helpText: "Synchronous requests answered, by entry point and status code."),
                labels: [("entry", entry), ("code", code)])
            counters[key] = counter
            return counter
        }
        counter.increment()
        guard let seconds else { return }
        let histogram = latency.withLock { histograms in
            if let histogram = histograms[entry] { return histogram }
            let histogram = registry.makeValueHistogram(
                descriptor: MetricNameDescriptor(metricName: "duoguard_sync_seconds", unitName: "", helpText: "Synchronous requests: from admission to answer (queue and model), by entry point."),
                labels: [("entry", entry)],
                buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])
            histograms[entry] = histogram
            return histogram
        }
        histogram.record(seconds)
    }

    /// Records a scored call's stages (``SyncTimeline``) under `duoguard_sync_stage_seconds{entry,stage}`.
    func record(_ timeline: SyncTimeline, entry: String) {
        for stage in timeline.stages {
            let histogram = stages.withLock { histograms in
                let key = "\(entry)\u{0}\(stage.name)"
                if let histogram = histograms[key] { return histogram }
                let histogram = registry.makeValueHistogram(
                    descriptor: MetricNameDescriptor(
                        metricName: "duoguard_sync_stage_seconds", unitName: "",
                        helpText: "Synchronous requests: time per stage (prepare, queue, dispatch, model, resume), by entry point."),
                    labels: [("entry", entry), ("stage", stage.name)], buckets: BatchTimingMetrics.buckets)
                histograms[key] = histogram
                return histogram
            }
            histogram.record(stage.seconds)
        }
    }
}
