import Prometheus
import Synchronization

/// The worker's Prometheus metrics, in their own registry (no global state, so tests can run
/// several workers in one process).
public final class WorkerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    let consumed: Counter
    let produced: Counter
    let deadLettered: Counter
    let failedResults: Counter
    let batchSize: ValueHistogram
    let batchTokens: ValueHistogram
    let inferenceSeconds: ValueHistogram
    let endToEndSeconds: ValueHistogram
    let queueDepth: Gauge
    let pausedPartitions: Gauge
    let assignedPartitions: Gauge
    private let lagGauges = Mutex<[String: Gauge]>([:])

    public init() {
        consumed = registry.makeCounter(name: "duoguard_requests_consumed_total", help: "Requests read from the input topics.")
        produced = registry.makeCounter(name: "duoguard_results_produced_total", help: "Results acknowledged by the broker.")
        deadLettered = registry.makeCounter(name: "duoguard_dead_letters_total", help: "Poison messages sent to the dead-letter topic.")
        failedResults = registry.makeCounter(
            name: "duoguard_results_failed_total", help: "Result deliveries that failed and were retried.")
        batchSize = registry.makeValueHistogram(
            name: "duoguard_batch_requests", buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], help: "Requests per inference batch.")
        batchTokens = registry.makeValueHistogram(
            name: "duoguard_batch_tokens", buckets: [16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384],
            help: "Tokens per inference batch.")
        let secondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
        inferenceSeconds = registry.makeValueHistogram(
            name: "duoguard_inference_seconds", buckets: secondsBuckets, help: "Model time per batch.")
        endToEndSeconds = registry.makeValueHistogram(
            name: "duoguard_end_to_end_seconds", buckets: secondsBuckets,
            help: "From reading a request to its result being acknowledged.")
        queueDepth = registry.makeGauge(name: "duoguard_queue_depth", help: "Requests waiting for a batch.")
        pausedPartitions = registry.makeGauge(name: "duoguard_paused_partitions", help: "Partitions paused by backpressure.")
        assignedPartitions = registry.makeGauge(name: "duoguard_assigned_partitions", help: "Partitions assigned to this worker.")
    }

    /// Sets the consumer lag (high watermark − committed offset) of one partition.
    func setLag(topic: String, partition: Int32, lag: Int64) {
        let key = "\(topic)/\(partition)"
        let gauge = lagGauges.withLock { gauges in
            if let gauge = gauges[key] { return gauge }
            let gauge = registry.makeGauge(
                name: "duoguard_consumer_lag", labels: [("topic", topic), ("partition", "\(partition)")],
                help: "Messages in the partition not yet committed by the group.")
            gauges[key] = gauge
            return gauge
        }
        gauge.set(Double(lag))
    }

    /// The Prometheus text exposition.
    public func render() -> String {
        registry.emitToString()
    }
}
