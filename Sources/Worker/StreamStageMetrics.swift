import Foundation
import Prometheus

/// Where a stream (Kafka) request's time goes, stage by stage:
/// `duoguard_stream_stage_seconds{stage}`. Issue 23 measured a light request's live latency at
/// ~300 ms where the model takes ~10 ms; these stages say which part of the path holds it
/// (the shape of ``SyncTimeline``, which does the same for synchronous calls):
///
/// - `fetch`: the request's Kafka timestamp → intake read it (the requester's producer, the
///   broker, the consumer's fetch wait, librdkafka's queue). Wall clocks of two hosts on a real
///   cluster (skew shows here, clamped at 0); only records with a timestamp.
/// - `prepare`: read → queued in the batcher (decoding, tokenization, the cache lookup; plus
///   any wait for queue space under backpressure);
/// - `queue`: queued → its batch taken (the running batch's rest, the batcher's wait for
///   company, earlier batches of a backlog);
/// - `dispatch`: taken → the model's thread started on the batch;
/// - `model`: its batch in the model;
/// - `compose`: model done → its result handed to the producer (the batch's results are
///   composed in order, so a later request of a big batch waits for the earlier ones);
/// - `deliver`: handed to the producer → every record of its answer acknowledged (the
///   producer's linger, the broker's write; the result's Kafka timestamp is set at the start).
///
/// A request answered without the model (invalid, cached, expired in the queue) records only
/// `fetch` and `deliver`. Histograms only (no per-request log line: at stream rates that
/// would be the log's volume); the per-batch debug line is ``BatchTimingMetrics``'.
struct StreamStageMetrics: Sendable {
    enum Stage: String, CaseIterable, Sendable {
        case fetch, prepare, queue, dispatch, model, compose, deliver
    }

    private let histograms: [Stage: ValueHistogram]

    init(registry: PrometheusCollectorRegistry) {
        var histograms: [Stage: ValueHistogram] = [:]
        for stage in Stage.allCases {
            histograms[stage] = registry.makeValueHistogram(
                descriptor: MetricNameDescriptor(
                    metricName: "duoguard_stream_stage_seconds", unitName: "",
                    helpText:
                        "Where a Kafka request's time goes: fetch (Kafka timestamp to read), prepare, queue, dispatch, model, compose, deliver (docs/operations.md)."),
                labels: [("stage", stage.rawValue)], buckets: Self.buckets)
        }
        self.histograms = histograms
    }

    /// 0.5 ms to 60 s: fine at the low end, where the Kafka stages of an idle worker are.
    static let buckets: [Double] = [
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5,
        10, 30, 60,
    ]

    func record(_ stage: Stage, _ seconds: Double) {
        histograms[stage]?.record(max(0, seconds))
    }

    func record(_ stage: Stage, from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) {
        record(stage, seconds(end - start))
    }

    /// `fetch`: from the record's Kafka timestamp (milliseconds since the epoch) to `read`.
    func recordFetch(timestampMilliseconds: Int64?, read: Date) {
        guard let stamp = timestampMilliseconds, stamp > 0 else { return }
        record(.fetch, read.timeIntervalSince1970 - Double(stamp) / 1000)
    }
}
