import Foundation
import Kafka
import Logging
import Synchronization
import TestSupport
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
    static func collect(
        _ count: Int, from consumer: KafkaConsumer, timeout: Duration = .seconds(30),
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> [KafkaConsumerMessage] {
        try await BoundedWait.within(timeout, "receiving \(count) messages", file: file, line: line) {
            var result: [KafkaConsumerMessage] = []
            for await message in consumer.messages {
                result.append(message)
                if result.count == count { break }
            }
            guard result.count == count else { throw BoundedWait.TimedOut(what: "the consumer closed after \(result.count) of \(count) messages") }
            return result
        }
    }

    /// Closes a consumer, failing the test (instead of hanging) when that takes over `timeout`.
    static func close(_ consumer: KafkaConsumer, timeout: Duration = .seconds(60), file: StaticString = #filePath, line: UInt = #line) async {
        await BoundedWait.bounded(timeout, "closing a consumer", file: file, line: line) { await consumer.close() }
    }

    /// Closes a producer, failing the test (instead of hanging) when that takes over `timeout`.
    static func close(_ producer: KafkaProducer, flushTimeout: Duration = .seconds(30), file: StaticString = #filePath, line: UInt = #line) async {
        await BoundedWait.bounded(flushTimeout + .seconds(30), "closing a producer", file: file, line: line) {
            await producer.close(flushTimeout: flushTimeout)
        }
    }

    /// Waits for a child process to exit; on timeout kills it (SIGKILL) and fails the test.
    static func waitForExit(_ process: Process, timeout: Duration, file: StaticString = #filePath, line: UInt = #line) async {
        await ChildProcess.waitForExit(process, timeout: timeout, file: file, line: line)
    }

    /// Produces `count` messages `prefix-i` (key `k-i`) in order, one request each, and waits
    /// for all deliveries. One message per request keeps the local broker's high watermark
    /// right: tansu answers ListOffsets(latest) with the last batch's base offset + 1.
    @discardableResult
    static func produce(_ count: Int, to topic: String, prefix: String = "m", partition: Int32? = nil) async throws -> [KafkaDeliveryReport] {
        let producer = try producer()
        let reports = try await BoundedWait.within(.seconds(60 + count / 10), "producing \(count) messages one by one") {
            var reports: [KafkaDeliveryReport] = []
            for i in 0..<count {
                reports.append(
                    try await producer.send(
                        KafkaProducerMessage(
                            topic: topic, partition: partition, key: Array("k-\(i)".utf8), value: Array("\(prefix)-\(i)".utf8))))
            }
            return reports
        }
        await close(producer)
        return reports
    }

    /// Produces `count` messages as fast as the producer takes them (batched requests, so
    /// watermarks of the local broker are not meaningful afterwards).
    static func produceFast(_ count: Int, to topic: String, prefix: String = "m") async throws {
        let producer = try producer()
        try await BoundedWait.within(.seconds(60 + count / 100), "producing \(count) messages") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<count {
                    group.addTask {
                        _ = try await producer.send(
                            KafkaProducerMessage(topic: topic, key: Array("k-\(i)".utf8), value: Array("\(prefix)-\(i)".utf8)))
                    }
                }
                try await group.waitForAll()
            }
        }
        await close(producer)
    }
}

extension KafkaConsumerMessage {
    var text: String { String(decoding: value ?? [], as: UTF8.self) }
}

/// A value shared between test tasks and threads.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func update<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
