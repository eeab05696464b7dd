import HTTPServer
import Prometheus
import Synchronization

/// The worker's Prometheus metrics, in their own registry (no global state, so tests can run
/// several workers in one process). docs/operations.md lists them all.
public final class WorkerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    let consumed: Counter
    let produced: Counter
    let deliveryRetries: Counter
    let undeliverable: Counter
    let deadlineShed: Counter
    let staleDropped: Counter
    /// Spans dropped because the export queue was full (`SpanEndQueue`).
    public let spansDropped: Counter
    let batchSize: ValueHistogram
    let batchTokens: ValueHistogram
    let inferenceSeconds: ValueHistogram
    let endToEndSeconds: ValueHistogram
    /// Where stream requests' time goes, stage by stage.
    let streamStages: StreamStageMetrics
    let queueDepth: Gauge
    let inFlightBytes: Gauge
    let pausedPartitions: Gauge
    let assignedPartitions: Gauge
    private let lagGauges = Mutex<[String: Gauge]>([:])
    private let deadLetterCounters = Mutex<[String: Counter]>([:])
    private let healthServerState = Mutex<(counters: [String: Counter], last: [String: Int])>(([:], [:]))
    let healthServerOpen: Gauge
    let healthServerRefusedRequests: Gauge
    /// The score cache's hits, misses, evictions and bytes (`--score-cache-bytes`).
    public let scoreCache: ScoreCacheMetrics
    /// A replay's pauses for live traffic (`--yield-to-group`).
    public let replayYield: ReplayYieldMetrics

    public init() {
        consumed = registry.makeCounter(
            descriptor: Self.metric("duoguard_requests_consumed_total", "Requests read from the input topics."))
        produced = registry.makeCounter(
            descriptor: Self.metric("duoguard_results_produced_total", "Results and dead letters acknowledged by the broker."))
        deliveryRetries = registry.makeCounter(
            descriptor: Self.metric("duoguard_results_failed_total", "Deliveries that failed with a retriable error (broker away, leader moving) and were retried."))
        undeliverable = registry.makeCounter(
            descriptor: Self.metric("duoguard_results_undeliverable_total", "Results the broker refused for good (invalid/unknown topic, authorization, size); the request was dead-lettered."))
        deadlineShed = registry.makeCounter(
            descriptor: Self.metric("duoguard_requests_expired_total", "Requests answered DEADLINE_EXCEEDED after waiting in the queue, without using the model."))
        staleDropped = registry.makeCounter(
            descriptor: Self.metric("duoguard_requests_stale_dropped_total", "Requests read under an assignment that was revoked before intake took them (the new owner answers them)."))
        spansDropped = registry.makeCounter(
            descriptor: Self.metric("duoguard_spans_dropped_total", "Spans dropped because the export queue was full (a slow or hung trace collector); answers are never delayed by it."))
        batchSize = registry.makeValueHistogram(
            descriptor: Self.metric("duoguard_batch_requests", "Requests per inference batch."),
            buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256])
        batchTokens = registry.makeValueHistogram(
            descriptor: Self.metric("duoguard_batch_tokens", "Tokens per inference batch."),
            buckets: [16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384])
        let secondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
        inferenceSeconds = registry.makeValueHistogram(
            descriptor: Self.metric("duoguard_inference_seconds", "Model time per batch."), buckets: secondsBuckets)
        endToEndSeconds = registry.makeValueHistogram(
            descriptor: Self.metric("duoguard_end_to_end_seconds", "From reading a request to its result being acknowledged."), buckets: secondsBuckets)
        streamStages = StreamStageMetrics(registry: registry)
        queueDepth = registry.makeGauge(
            descriptor: Self.metric("duoguard_queue_depth", "Requests waiting for a batch."))
        inFlightBytes = registry.makeGauge(
            descriptor: Self.metric("duoguard_in_flight_bytes", "Bytes of requests read and not yet answered (bounded by --max-in-flight-bytes)."))
        pausedPartitions = registry.makeGauge(
            descriptor: Self.metric("duoguard_paused_partitions", "Partitions paused by backpressure."))
        assignedPartitions = registry.makeGauge(
            descriptor: Self.metric("duoguard_assigned_partitions", "Partitions assigned to this worker."))
        healthServerOpen = registry.makeGauge(
            descriptor: Self.metric("duoguard_metrics_server_open_connections", "Connections open to the metrics/health server."))
        healthServerRefusedRequests = registry.makeGauge(
            descriptor: Self.metric(
                "duoguard_metrics_server_refused_requests", "Requests the metrics/health server refused (400, 405, 413, 431) since start."))
        scoreCache = ScoreCacheMetrics(registry: registry)
        replayYield = ReplayYieldMetrics(registry: registry)
    }

    /// Counts a dead letter acknowledged by the broker, by its `error-code`.
    func deadLettered(code: String) {
        let counter = deadLetterCounters.withLock { counters in
            if let counter = counters[code] { return counter }
            let counter = registry.makeCounter(descriptor: Self.metric("duoguard_dead_letters_total", "Requests sent to the dead-letter topic, by error code."), labels: [("code", code)])
            counters[code] = counter
            return counter
        }
        counter.increment()
    }

    /// Exports the health server's counters: connections by how they ended, and open ones.
    func record(_ statistics: HealthServer.Statistics) {
        let outcomes: [(String, Int)] = [
            ("accepted", statistics.accepted), ("rejected", statistics.rejected), ("evicted", statistics.evicted),
            ("timed_out", statistics.timedOut), ("idle_closed", statistics.idleClosed),
            ("write_timed_out", statistics.writeTimedOut),
        ]
        let increments: [(Counter, Int)] = healthServerState.withLock { state in
            var increments: [(Counter, Int)] = []
            for (outcome, total) in outcomes {
                let counter = state.counters[outcome] ?? {
                    let counter = registry.makeCounter(
                        descriptor: Self.metric("duoguard_metrics_server_connections_total", "Connections to the metrics/health server, by outcome."),
                        labels: [("outcome", outcome)])
                    state.counters[outcome] = counter
                    return counter
                }()
                let delta = total - (state.last[outcome] ?? 0)
                state.last[outcome] = total
                if delta > 0 { increments.append((counter, delta)) }
            }
            return increments
        }
        for (counter, delta) in increments { counter.increment(by: Int64(delta)) }
        healthServerOpen.set(Double(statistics.open))
        healthServerRefusedRequests.set(Double(statistics.rejectedRequests))
    }

    /// Sets the consumer lag (high watermark − committed offset) of one partition.
    func setLag(topic: String, partition: Int32, lag: Int64) {
        let key = "\(topic)/\(partition)"
        let gauge = lagGauges.withLock { gauges in
            if let gauge = gauges[key] { return gauge }
            let gauge = registry.makeGauge(descriptor: Self.metric("duoguard_consumer_lag", "Messages in the partition not yet committed by the group."), labels: [("topic", topic), ("partition", "\(partition)")])
            gauges[key] = gauge
            return gauge
        }
        gauge.set(Double(lag))
    }

    /// A descriptor for a metric whose full name is spelled out (greppable in alerts and docs).
    static func metric(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The Prometheus text exposition.
    public func render() -> String {
        registry.emitToString()
    }
}
