import Foundation
import Kafka
import XCTest
import TestSupport

/// Produce/consume against the real local broker.
final class KafkaRoundTripTests: XCTestCase {
    func testRoundTripWithKeysAndHeaders() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 1, prefix: "roundtrip")
        let producer = try KafkaTestSupport.producer()
        var sent: [KafkaProducerMessage] = []
        for i in 0..<20 {
            let message = KafkaProducerMessage(
                topic: topic, key: i == 3 ? nil : Array("key-\(i)".utf8),
                value: Array("value-\(i) é中".utf8),
                headers: [
                    KafkaHeader(key: "content-type", string: "application/json"),
                    KafkaHeader(key: "index", string: "\(i)"),
                    KafkaHeader(key: "binary", value: [0, 255, UInt8(i)]),
                    KafkaHeader(key: "null", value: nil),
                ])
            let report = try await BoundedWait.within(.seconds(30), "send \(i)") { try await producer.send(message) }
            XCTAssertEqual(report.topic, topic)
            XCTAssertEqual(report.partition, 0)
            XCTAssertEqual(report.offset, Int64(i))
            sent.append(message)
        }
        await KafkaTestSupport.close(producer)

        let consumer = try KafkaConsumer(
            configuration: KafkaTestSupport.consumerConfiguration(group: KafkaTestSupport.uniqueName("g")),
            logger: KafkaTestSupport.logger)
        try consumer.subscribe(topics: [topic])
        let received = try await KafkaTestSupport.collect(20, from: consumer)
        for (i, message) in received.enumerated() {
            XCTAssertEqual(message.topic, topic)
            XCTAssertEqual(message.offset, Int64(i))
            XCTAssertEqual(message.key, sent[i].key)
            XCTAssertEqual(message.value, sent[i].value)
            XCTAssertEqual(message.headers, sent[i].headers)
            XCTAssertEqual(message.headers.last(named: "index")?.stringValue, "\(i)")
            XCTAssertNotNil(message.timestampMilliseconds)
        }
        await KafkaTestSupport.close(consumer)
    }

    func testIdempotentProducerDeliversEveryMessageOnceInOrder() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 4, prefix: "idempotent")
        let producer = try KafkaTestSupport.producer()
        // Enqueue without awaiting each one, as a worker does, and collect the reports.
        let count = 2_000
        let reports = try await BoundedWait.within(.seconds(120), "\(count) concurrent sends") {
            try await withThrowingTaskGroup(of: (Int, KafkaDeliveryReport).self) { group in
                for i in 0..<count {
                    group.addTask {
                        let report = try await producer.send(
                            KafkaProducerMessage(topic: topic, key: Array("k\(i % 16)".utf8), value: Array("\(i)".utf8)))
                        return (i, report)
                    }
                }
                var result: [Int: KafkaDeliveryReport] = [:]
                for try await (i, report) in group { result[i] = report }
                return result
            }
        }
        await KafkaTestSupport.close(producer)
        XCTAssertEqual(reports.count, count)
        // Offsets per partition are exactly 0..<n: nothing duplicated, nothing skipped.
        let byPartition = Dictionary(grouping: reports.values, by: \.partition)
        for (_, partitionReports) in byPartition {
            XCTAssertEqual(partitionReports.map(\.offset).sorted(), (0..<Int64(partitionReports.count)).map { $0 })
        }
        // Same key, same partition.
        for key in 0..<16 {
            let partitions = Set(reports.filter { $0.key % 16 == key }.map(\.value.partition))
            XCTAssertEqual(partitions.count, 1)
        }

        let consumer = try KafkaConsumer(
            configuration: KafkaTestSupport.consumerConfiguration(group: KafkaTestSupport.uniqueName("g")),
            logger: KafkaTestSupport.logger)
        try consumer.subscribe(topics: [topic])
        let received = try await KafkaTestSupport.collect(count, from: consumer, timeout: .seconds(60))
        XCTAssertEqual(Set(received.map(\.text)), Set((0..<count).map { "\($0)" }))
        await KafkaTestSupport.close(consumer)
    }

    func testRegexSubscriptionAndWatermarks() async throws {
        let prefix = KafkaTestSupport.uniqueName("regex")
        let admin = try KafkaAdmin(configuration: KafkaTestSupport.client)
        try await admin.createTopics([.init(name: "\(prefix)-a", partitions: 1), .init(name: "\(prefix)-b", partitions: 2)])
        let topics = try await admin.listTopics()
        XCTAssertEqual(topics["\(prefix)-a"], 1)
        XCTAssertEqual(topics["\(prefix)-b"], 2)
        // Creating again is not an error with ifNotExists, and is one without.
        try await admin.createTopics([.init(name: "\(prefix)-a", partitions: 1)])
        do {
            try await admin.createTopics([.init(name: "\(prefix)-a", partitions: 1)], ifNotExists: false)
            XCTFail("creating an existing topic should fail")
        } catch {
            XCTAssertEqual(error.name, "TOPIC_ALREADY_EXISTS")
        }

        try await KafkaTestSupport.produce(3, to: "\(prefix)-a")
        try await KafkaTestSupport.produce(5, to: "\(prefix)-b", partition: 1)
        let consumer = try KafkaConsumer(
            configuration: KafkaTestSupport.consumerConfiguration(group: KafkaTestSupport.uniqueName("g")),
            logger: KafkaTestSupport.logger)
        try consumer.subscribe(topics: ["^\(prefix)-.*"])
        let received = try await KafkaTestSupport.collect(8, from: consumer)
        XCTAssertEqual(Set(received.map(\.topic)), ["\(prefix)-a", "\(prefix)-b"])
        let marks = try await consumer.watermarks(topic: "\(prefix)-b", partition: 1)
        XCTAssertEqual(marks, KafkaWatermarks(low: 0, high: 5))
        let empty = try await consumer.watermarks(topic: "\(prefix)-b", partition: 0)
        XCTAssertEqual(empty, KafkaWatermarks(low: 0, high: 0))
        await KafkaTestSupport.close(consumer)
    }

    func testOffsetsForTimes() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 1, prefix: "times")
        try await KafkaTestSupport.produce(3, to: topic, prefix: "before")
        try await Task.sleep(for: .milliseconds(1100))
        let middle = Int64(Date().timeIntervalSince1970 * 1000)
        try await Task.sleep(for: .milliseconds(1100))
        try await KafkaTestSupport.produce(2, to: topic, prefix: "after")

        let consumer = try KafkaConsumer(
            configuration: KafkaTestSupport.consumerConfiguration(group: KafkaTestSupport.uniqueName("g")),
            logger: KafkaTestSupport.logger)
        let found = try await consumer.offsets(forTimes: [KafkaTopicPartition(topic: topic, partition: 0, offset: middle)])
        XCTAssertEqual(found.first?.offset, 3, "first message at or after the middle timestamp")
        let beginning = try await consumer.offsets(forTimes: [KafkaTopicPartition(topic: topic, partition: 0, offset: 0)])
        XCTAssertEqual(beginning.first?.offset, 0)
        await KafkaTestSupport.close(consumer)
    }

    func testUnreachableBrokerFailsFastWithClearError() async throws {
        let unreachable = KafkaConfiguration(bootstrapServers: ["127.0.0.1:1"], connectTimeout: .seconds(2))
        let admin = try KafkaAdmin(configuration: unreachable, logger: KafkaTestSupport.logger)
        let start = ContinuousClock.now
        do {
            _ = try await admin.listTopics()
            XCTFail("listing topics of an unreachable broker must fail")
        } catch {
            XCTAssertEqual(error.kind, .brokerUnreachable, "\(error)")
            XCTAssertTrue(error.description.contains("no broker answered"), error.description)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(6))

        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: unreachable, deliveryTimeout: .seconds(2)),
            logger: KafkaTestSupport.logger)
        let sendStart = ContinuousClock.now
        do {
            try await BoundedWait.within(.seconds(30), "a send to an unreachable broker fails") {
                try await producer.send(KafkaProducerMessage(topic: "nowhere", value: Array("x".utf8)))
            }
            XCTFail("delivery to an unreachable broker must fail")
        } catch let error as KafkaError {
            XCTAssertEqual(error.name, "_MSG_TIMED_OUT", "\(error)")
            XCTAssertTrue(error.isRetriable)
        }
        XCTAssertLessThan(ContinuousClock.now - sendStart, .seconds(8))
        await KafkaTestSupport.close(producer, flushTimeout: .seconds(1))
    }
}
