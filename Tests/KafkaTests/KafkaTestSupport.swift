import Foundation
import Kafka
import Logging
import XCTest

/// Shared set-up for tests that talk to the real local broker (`scripts/broker.sh start`).
enum KafkaTestSupport {
    /// The bootstrap address of the test broker: `DUOGUARD_TEST_BROKERS` or the local default.
    static let brokers = ProcessInfo.processInfo.environment["DUOGUARD_TEST_BROKERS"] ?? "127.0.0.1:9092"

    static let logger: Logger = {
        var logger = Logger(label: "kafka-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["DUOGUARD_TEST_LOG"] == nil ? .warning : .debug
        return logger
    }()

    static var client: KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: [brokers], clientID: "duoguard-tests", connectTimeout: .seconds(10))
    }

    /// A name no other test (or earlier run against the same broker) uses.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Creates a topic, failing the test with a hint when the broker is not running.
    static func createTopic(partitions: Int, prefix: String = "test") async throws -> String {
        let name = uniqueName(prefix)
        let admin = try KafkaAdmin(configuration: client, logger: logger)
        do {
            try await admin.createTopics([.init(name: name, partitions: partitions)])
        } catch {
            XCTFail("cannot create a topic on \(brokers) — is the broker running? (scripts/broker.sh start): \(error)")
            throw error
        }
        return name
    }

    /// Consumer settings for tests: short session timeout, since the local broker's first
    /// group join takes about half of it.
    static func consumerConfiguration(group: String, autoCommit: Bool = false) -> KafkaConsumerConfiguration {
        KafkaConsumerConfiguration(
            client: client, groupID: group, sessionTimeout: .seconds(6),
            heartbeatInterval: .milliseconds(500),
            autoCommitInterval: autoCommit ? .seconds(1) : nil,
            revokeTimeout: .seconds(10))
    }

    static func producer() throws -> KafkaProducer {
        try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: client, linger: .milliseconds(1), deliveryTimeout: .seconds(20)),
            logger: logger)
    }

    /// Polls `condition` every 50 ms until it holds or `timeout` passes.
    static func waitUntil(
        _ what: String, timeout: Duration = .seconds(30), file: StaticString = #filePath, line: UInt = #line,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTFail("timed out after \(timeout) waiting for: \(what)", file: file, line: line)
        throw CancellationError()
    }

    /// Reads `count` messages (or fails after `timeout`).
    static func collect(_ count: Int, from consumer: KafkaConsumer, timeout: Duration = .seconds(30)) async throws -> [KafkaConsumerMessage] {
        try await withThrowingTaskGroup(of: [KafkaConsumerMessage]?.self) { group in
            group.addTask {
                var result: [KafkaConsumerMessage] = []
                for await message in consumer.messages {
                    result.append(message)
                    if result.count == count { break }
                }
                return result
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            guard let first else {
                XCTFail("did not receive \(count) messages within \(timeout)")
                throw CancellationError()
            }
            return first
        }
    }

    /// Produces `count` messages `prefix-i` (key `k-i`) in order, one request each, and waits
    /// for all deliveries. One message per request keeps the local broker's high watermark
    /// right: tansu answers ListOffsets(latest) with the last batch's base offset + 1.
    @discardableResult
    static func produce(_ count: Int, to topic: String, prefix: String = "m", partition: Int32? = nil) async throws -> [KafkaDeliveryReport] {
        let producer = try producer()
        var reports: [KafkaDeliveryReport] = []
        for i in 0..<count {
            reports.append(
                try await producer.send(
                    KafkaProducerMessage(
                        topic: topic, partition: partition, key: Array("k-\(i)".utf8), value: Array("\(prefix)-\(i)".utf8))))
        }
        await producer.close()
        return reports
    }

    /// Produces `count` messages as fast as the producer takes them (batched requests, so
    /// watermarks of the local broker are not meaningful afterwards).
    static func produceFast(_ count: Int, to topic: String, prefix: String = "m") async throws {
        let producer = try producer()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<count {
                group.addTask {
                    _ = try await producer.send(
                        KafkaProducerMessage(topic: topic, key: Array("k-\(i)".utf8), value: Array("\(prefix)-\(i)".utf8)))
                }
            }
            try await group.waitForAll()
        }
        await producer.close()
    }
}

extension KafkaConsumerMessage {
    var text: String { String(decoding: value ?? [], as: UTF8.self) }
}
