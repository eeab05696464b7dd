import Foundation
import Kafka
import TestSupport
import XCTest

/// Memory is bounded in bytes, not messages: a flood of ~1 MB records read slowly keeps the
/// consumer's buffer within `maxBufferedBytes` + one message, against the real local broker.
final class KafkaMemoryBoundTests: XCTestCase {
    func testFloodOfOneMegabyteRecordsReadSlowlyStaysWithinTheByteBound() async throws {
        // DUOGUARD_FLOOD_RECORDS raises the count for a longer run (docs/kafka.md).
        let count = ProcessInfo.processInfo.environment["DUOGUARD_FLOOD_RECORDS"].flatMap(Int.init) ?? 60
        let valueSize = 1_000_000
        let topic = try await KafkaTestSupport.createTopic(partitions: 2, prefix: "flood")
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: KafkaTestSupport.client, deliveryTimeout: .seconds(60)),
            logger: KafkaTestSupport.logger)
        try await BoundedWait.within(.seconds(120), "producing \(count) records of 1 MB") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<count {
                    group.addTask {
                        var value = [UInt8](repeating: UInt8(i % 251), count: valueSize)
                        value.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(i).littleEndian, Array.init))
                        try await producer.send(KafkaProducerMessage(topic: topic, key: Array("k\(i)".utf8), value: value))
                    }
                }
                try await group.waitForAll()
            }
        }
        await KafkaTestSupport.close(producer)

        var configuration = KafkaTestSupport.consumerConfiguration(group: KafkaTestSupport.uniqueName("g"))
        configuration.maxBufferedBytes = 8 << 20
        configuration.maxMessageBytes = 1_100_000
        configuration.maxPrefetchKilobytes = 4 << 10
        // The message count limit is far away: only bytes can hold the buffer back.
        configuration.maxBufferedMessages = 2_000
        let baseline = ProcessFigures.memory()
        let consumer = try KafkaConsumer(configuration: configuration, logger: KafkaTestSupport.logger)
        try consumer.subscribe(topics: [topic])

        // Sample the buffer and this process's RSS every 5 ms while the reader is slow.
        let samples = Locked<(maxBytes: Int, maxMessages: Int, maxRSS: Int, pausedSeen: Bool, count: Int)>((0, 0, 0, false, 0))
        let sampler = Task {
            while !Task.isCancelled {
                let bytes = consumer.bufferedByteCount
                let messages = consumer.bufferedMessageCount
                let rss = ProcessFigures.memory()?.current ?? 0
                let paused = !consumer.pausedPartitions.isEmpty
                samples.update {
                    $0 = (max($0.maxBytes, bytes), max($0.maxMessages, messages), max($0.maxRSS, rss), $0.pausedSeen || paused, $0.count + 1)
                }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        // The application starts reading only once flow control has paused fetching (or after
        // 30 s): a reader that merely keeps pace with a slow relay would never let the buffer
        // reach its bound, and the pause path would go untested (seen: 6 of 8 MiB buffered).
        let fillDeadline = ContinuousClock.now + .seconds(30)
        while !samples.value.pausedSeen && ContinuousClock.now < fillDeadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let trajectory = Locked<[Int]>([])
        let received = try await BoundedWait.within(.seconds(180 + 2 * count), "reading \(count) records slowly") {
            var result: [KafkaConsumerMessage] = []
            for await message in consumer.messages {
                if result.count % max(1, count / 6) == 0 {
                    let rss = ProcessFigures.memory()?.current ?? 0
                    trajectory.update { $0.append(rss / 1_048_576) }
                }
                result.append(KafkaConsumerMessage(
                    topic: message.topic, partition: message.partition, offset: message.offset,
                    value: Array((message.value ?? []).prefix(8))))
                XCTAssertEqual(message.value?.count, valueSize)
                if result.count == count { break }
                try? await Task.sleep(for: .milliseconds(60))  // a slow application
            }
            return result
        }
        sampler.cancel()
        await KafkaTestSupport.close(consumer)

        // Nothing lost, nothing twice, each partition in order.
        let indices = received.map { $0.value!.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        XCTAssertEqual(Set(indices), Set((0..<UInt64(count))))
        for (_, messages) in Dictionary(grouping: received, by: \.partition) {
            XCTAssertEqual(messages.map(\.offset), messages.map(\.offset).sorted())
        }

        let result = samples.value
        let perMessage = valueSize + 200
        let bound = configuration.maxBufferedBytes + perMessage
        XCTAssertTrue(result.pausedSeen, "flow control paused fetching")
        XCTAssertLessThanOrEqual(result.maxBytes, bound, "buffer peaked at \(result.maxBytes) bytes")
        XCTAssertLessThan(result.maxMessages, count, "never the whole backlog at once")
        // The documented bound of the whole consumer (docs/kafka.md): buffer + one message +
        // librdkafka's queue + one fetch over it + one receive buffer.
        let fetch = max(configuration.maxMessageBytes, configuration.maxPrefetchKilobytes * 1024, 1_000_000)
        let formula = configuration.maxBufferedBytes + configuration.maxMessageBytes
            + configuration.maxPrefetchKilobytes * 1024 + fetch + (fetch + configuration.maxMessageBytes + 64 * 1024)
        let rssGrowth = max(0, result.maxRSS - (baseline?.current ?? result.maxRSS))
        // RSS also holds what the allocator keeps; 32 MiB of slack for that. (Before handed-out
        // messages were released by the buffer, this grew with every record read: 61 MiB for 60.)
        XCTAssertLessThan(rssGrowth, formula + (32 << 20), "RSS grew \(rssGrowth >> 20) MiB while consuming")
        print(
            """
            memory bound: \(count) records of \(valueSize) bytes, reader 60 ms/record; \
            buffer peak \(result.maxBytes) bytes / \(result.maxMessages) messages (bound \(bound)); \
            process RSS growth while consuming \(rssGrowth / 1_048_576) MiB (formula bound \(formula / 1_048_576) MiB; \
            RSS MiB from \((baseline?.current ?? 0) / 1_048_576) along the read: \(trajectory.value)); \
            \(result.count) samples; load average \(ProcessFigures.loadAverage)
            """)
    }
}
