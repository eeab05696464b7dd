import Logging
import Prometheus

/// How long batches take in the model, by whether they carry synchronous calls
/// (`duoguard_batch_seconds{kind="stream"|"calls"}`), and one debug line per batch (sizes and
/// times only, never text). The stream batches' duration is what a synchronous caller may have
/// to wait for behind a backlog (issue 22's bound: idle latency plus one stream batch), so it
/// is kept apart from the short batches that carry callers, which a single mean would mix in.
struct BatchTimingMetrics: Sendable {
    private let stream: ValueHistogram
    private let calls: ValueHistogram

    init(registry: PrometheusCollectorRegistry) {
        func histogram(_ kind: String) -> ValueHistogram {
            registry.makeValueHistogram(
                descriptor: MetricNameDescriptor(
                    metricName: "duoguard_batch_seconds", unitName: "",
                    helpText: "Model time per batch, by kind: stream (Kafka only) or calls (carries synchronous requests)."),
                labels: [("kind", kind)], buckets: Self.buckets)
        }
        stream = histogram("stream")
        calls = histogram("calls")
    }

    /// 10 ms to 60 s, about 1.5x apart: fine enough to read a batch duration's tail.
    static let buckets: [Double] = [
        0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 6, 7, 8, 10, 12.5, 15, 20, 30, 60,
    ]

    func record(_ timing: BatchTiming, logger: Logger) {
        (timing.calls > 0 ? calls : stream).record(timing.modelSeconds)
        logger.debug(
            "batch",
            metadata: [
                "kind": "\(timing.kind)", "items": "\(timing.items)", "calls": "\(timing.calls)", "tokens": "\(timing.tokens)",
                "dispatch_ms": "\(Self.milliseconds(timing.dispatchSeconds))", "model_ms": "\(Self.milliseconds(timing.modelSeconds))",
            ])
    }

    static func milliseconds(_ seconds: Double) -> String { String(Int((seconds * 1000).rounded())) }
}
