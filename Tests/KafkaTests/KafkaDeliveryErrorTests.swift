import Foundation
import XCTest

@testable import Kafka
import TestSupport

/// What a producer reports for messages that can never be delivered, against the real local
/// broker (tansu): the error, its disposition, and whether it comes at once (thrown by
/// `produce`) or in the delivery report. Findings are recorded in docs/kafka.md.
final class KafkaDeliveryErrorTests: XCTestCase {
    private func producer(
        maxMessageBytes: Int = 1_048_588, validatesTopicNames: Bool = true, allowsTopicCreation: Bool = true,
        properties: [String: String] = [:]
    ) throws -> KafkaProducer {
        var client = KafkaTestSupport.client
        client.properties.merge(properties) { _, new in new }
        var configuration = KafkaProducerConfiguration(
            client: client, linger: .milliseconds(1), deliveryTimeout: .seconds(20),
            maxQueuedBytes: max(64 << 20, maxMessageBytes), maxMessageBytes: maxMessageBytes)
        configuration.validatesTopicNames = validatesTopicNames
        configuration.allowsTopicCreation = allowsTopicCreation
        return try KafkaProducer(configuration: configuration, logger: KafkaTestSupport.logger)
    }

    /// Sends and returns the error (failing the test if it was delivered).
    private func failure(of message: KafkaProducerMessage, from producer: KafkaProducer) async throws -> (KafkaError, Duration)? {
        let start = ContinuousClock.now
        do {
            let report = try await BoundedWait.within(.seconds(60), "delivery result for \(message.topic.prefix(40))") {
                try await producer.send(message)
            }
            XCTFail("delivered unexpectedly: \(report)")
            return nil
        } catch let error as KafkaError {
            return (error, ContinuousClock.now - start)
        }
    }

    func testInvalidTopicNamesAreRejectedAtOnceAsPermanent() async throws {
        let producer = try producer()
        for name in ["bad topic!", String(repeating: "a", count: 300), "", ".."] {
            let called = Locked(false)
            XCTAssertThrowsError(
                try producer.produce(KafkaProducerMessage(topic: name, value: Array("x".utf8))) { _ in called.update { $0 = true } }
            ) { error in
                let error = error as? KafkaError
                XCTAssertEqual(error?.name, "TOPIC_EXCEPTION")
                XCTAssertEqual(error?.disposition, .permanent)
            }
            guard let (error, elapsed) = try await failure(of: KafkaProducerMessage(topic: name, value: [1]), from: producer) else { continue }
            XCTAssertEqual(error.disposition, .permanent)
            XCTAssertLessThan(elapsed, .milliseconds(100), "a local rejection is immediate")
            XCTAssertFalse(called.value, "no delivery callback for a message that was not enqueued")
        }
        await KafkaTestSupport.close(producer)
    }

    /// Without the local check, the broker's answer comes in the delivery report.
    /// tansu and Apache Kafka both answer INVALID_TOPIC_EXCEPTION (librdkafka: TOPIC_EXCEPTION).
    func testBrokerRejectsInvalidTopicNamesInTheDeliveryReportAsPermanent() async throws {
        let producer = try producer(validatesTopicNames: false)
        for name in ["bad topic!", String(repeating: "b", count: 300)] {
            guard let (error, elapsed) = try await failure(of: KafkaProducerMessage(topic: name, value: [1]), from: producer) else { continue }
            XCTAssertEqual(error.name, "TOPIC_EXCEPTION", "\(error)")
            XCTAssertEqual(error.disposition, .permanent, "\(error)")
            XCTAssertEqual(error.kind, .message)
            print("broker answer for invalid topic (\(name.count) chars): \(error.name), \(error.disposition), after \(elapsed)")
        }
        await KafkaTestSupport.close(producer)
    }

    func testOversizeMessageIsRejectedAtOnceAsPermanent() async throws {
        let producer = try producer()
        let topic = try await KafkaTestSupport.createTopic(partitions: 1, prefix: "oversize")
        let message = KafkaProducerMessage(topic: topic, value: [UInt8](repeating: 0x61, count: 1_100_000))
        XCTAssertThrowsError(try producer.produce(message) { _ in }) { error in
            let error = error as? KafkaError
            XCTAssertEqual(error?.name, "MSG_SIZE_TOO_LARGE")
            XCTAssertEqual(error?.disposition, .permanent)
            XCTAssertEqual(error?.kind, .message)
        }
        // Just under the limit (value + key + headers + framing) still goes through.
        try await BoundedWait.within(.seconds(60), "a 1 MB message") {
            try await producer.send(KafkaProducerMessage(topic: topic, value: [UInt8](repeating: 0x62, count: 1_000_000)))
        }
        await KafkaTestSupport.close(producer)
    }

    /// A topic whose `max.message.bytes` is below the message: Apache Kafka answers
    /// MSG_SIZE_TOO_LARGE in the delivery report (permanent). tansu does not enforce the
    /// topic limit (it stores the message); the test records which one it met.
    func testTopicSizeLimitAtTheBroker() async throws {
        let producer = try producer(maxMessageBytes: 4_000_000)
        let name = KafkaTestSupport.uniqueName("small")
        let admin = try KafkaAdmin(configuration: KafkaTestSupport.client, logger: KafkaTestSupport.logger)
        try await admin.createTopics([.init(name: name, partitions: 1, configs: ["max.message.bytes": "100000"])])
        let message = KafkaProducerMessage(topic: name, value: [UInt8](repeating: 0x63, count: 300_000))
        do {
            let report = try await BoundedWait.within(.seconds(60), "delivery of a message above the topic limit") {
                try await producer.send(message)
            }
            print("broker stored a 300 kB message in a topic with max.message.bytes=100000 (tansu does not enforce it): \(report)")
        } catch let error as KafkaError {
            XCTAssertEqual(error.name, "MSG_SIZE_TOO_LARGE", "\(error)")
            XCTAssertEqual(error.disposition, .permanent, "\(error)")
            print("broker rejected a message above the topic limit: \(error)")
        }
        await KafkaTestSupport.close(producer)
    }

    /// With auto-creation off, an unknown topic fails in the delivery report once librdkafka
    /// has waited `topic.metadata.propagation.max.ms`: UNKNOWN_TOPIC_OR_PART, permanent.
    func testUnknownTopicWithAutoCreateOffIsPermanent() async throws {
        let producer = try producer(allowsTopicCreation: false, properties: ["topic.metadata.propagation.max.ms": "1000"])
        let name = KafkaTestSupport.uniqueName("missing")
        guard let (error, elapsed) = try await failure(of: KafkaProducerMessage(topic: name, value: [1]), from: producer) else {
            return await KafkaTestSupport.close(producer)
        }
        XCTAssertTrue(["UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_TOPIC"].contains(error.name), "\(error)")
        XCTAssertEqual(error.disposition, .permanent, "\(error)")
        XCTAssertLessThan(elapsed, .seconds(15), "well before the delivery timeout")
        print("unknown topic with auto-create off: \(error.name), \(error.disposition), after \(elapsed)")
        let topics = try await producer.topics()
        XCTAssertNil(topics[name], "the topic was not created")
        await KafkaTestSupport.close(producer)
    }
}
