import Kafka
import Logging

/// Reads a live consumer group's lag: for every partition of its topics, the high
/// watermark (ListOffsets "latest") minus the group's committed offset (OffsetFetch), summed.
///
/// Through a consumer configured with the live group's id that never subscribes: librdkafka
/// then asks the group coordinator for the committed offsets without joining, so the live
/// workers see no member come or go (and nothing is ever committed for them: this consumer
/// stores no offsets).
final class LiveGroupLag: Sendable {
    /// One reading.
    struct Reading: Sendable, Equatable {
        /// Messages not yet committed by the group, over all partitions.
        var lag: Int64
        /// Partitions where the group has a committed offset.
        var committedPartitions: Int
    }

    let settings: LiveYield
    let partitions: [KafkaTopicPartition]
    /// The reading taken at start.
    let initial: Reading
    private let consumer: KafkaConsumer

    private init(settings: LiveYield, partitions: [KafkaTopicPartition], consumer: KafkaConsumer, initial: Reading) {
        self.settings = settings
        self.partitions = partitions
        self.consumer = consumer
        self.initial = initial
    }

    /// Connects and takes a first reading. A live group that cannot be read is a start-up
    /// error, never a silent no-op: a missing topic, a group with no committed offset on any
    /// of its partitions (a misspelt name reads as exactly that), or a broker error
    /// (authorization, unreachable).
    static func open(_ settings: LiveYield, kafka: KafkaConfiguration, logger: Logger) async throws(WorkerError) -> LiveGroupLag {
        var configuration = KafkaConsumerConfiguration(client: kafka, groupID: settings.group)
        configuration.client.clientID = "duoguard-replay-lag-watch"
        configuration.autoCommitInterval = nil
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        } catch {
            throw .startup("--yield-to-group '\(settings.group)': \(error)")
        }
        do {
            let known = try await consumer.topics()
            var partitions: [KafkaTopicPartition] = []
            for topic in settings.topics {
                guard let count = known[topic] else {
                    throw WorkerError.startup("--yield-to-group '\(settings.group)': live topic '\(topic)' does not exist")
                }
                partitions += (0..<Int32(count)).map { KafkaTopicPartition(topic: topic, partition: $0) }
            }
            let first = try await read(consumer, partitions, timeout: .seconds(10))
            guard first.committedPartitions > 0 else {
                throw WorkerError.startup(
                    "--yield-to-group '\(settings.group)' has no committed offset on \(settings.topics.joined(separator: ", ")): "
                        + "no such live group (check the name and --live-topic), or it never committed; its lag cannot be watched")
            }
            logger.info("watching live group lag", metadata: ["group": "\(settings.group)", "lag": "\(first.lag)", "partitions": "\(partitions.count)"])
            return LiveGroupLag(settings: settings, partitions: partitions, consumer: consumer, initial: first)
        } catch let error as WorkerError {
            await consumer.close()
            throw error
        } catch {
            await consumer.close()
            throw .startup("--yield-to-group '\(settings.group)': the live group's offsets cannot be read: \(error)")
        }
    }

    /// The lag now. A partition the group never committed counts all its records.
    func read(timeout: Duration) async throws(KafkaError) -> Reading {
        try await Self.read(consumer, partitions, timeout: timeout)
    }

    private static func read(_ consumer: KafkaConsumer, _ partitions: [KafkaTopicPartition], timeout: Duration) async throws(KafkaError) -> Reading {
        let committed = try await consumer.committed(partitions, timeout: timeout)
        var reading = Reading(lag: 0, committedPartitions: 0)
        for partition in partitions {
            let marks = try await consumer.watermarks(topic: partition.topic, partition: partition.partition, timeout: timeout)
            let position = committed.first { $0.topic == partition.topic && $0.partition == partition.partition }?.offset
            if position != nil { reading.committedPartitions += 1 }
            reading.lag += max(0, marks.high - (position ?? marks.low))
        }
        return reading
    }

    func close() async {
        await consumer.close()
    }
}
