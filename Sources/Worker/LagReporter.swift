import Kafka

/// Refreshes the consumer-lag gauges (high watermark − committed offset per assigned
/// partition) and the paused-partitions gauge every `interval`.
///
/// Its calls block on the broker, so the worker cancels and awaits it before closing the
/// consumer: no librdkafka call may outlive its handle.
struct LagReporter: Sendable {
    let consumer: KafkaConsumer
    let metrics: WorkerMetrics
    let interval: Duration

    func run() async {
        let timeout = min(interval, .seconds(5))
        while !Task.isCancelled {
            metrics.pausedPartitions.set(Double(consumer.pausedPartitions.count))
            let assignment = consumer.assignment
            if !assignment.isEmpty, let committed = try? await consumer.committed(assignment, timeout: timeout) {
                for position in committed where !Task.isCancelled {
                    guard let marks = try? await consumer.watermarks(topic: position.topic, partition: position.partition, timeout: timeout)
                    else { continue }
                    metrics.setLag(topic: position.topic, partition: position.partition, lag: marks.high - (position.offset ?? marks.low))
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}
