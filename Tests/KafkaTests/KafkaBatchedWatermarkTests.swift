import Foundation
import Kafka
import TestSupport
import XCTest

/// The local broker's offsets must be true when producers batch (issue 11): tansu alone
/// answers ListOffsets "latest" with the last batch's base offset + 1, and a time past the
/// end with offset 0; scripts/kafka_relay.py corrects both. Every producer here batches
/// (kcat `-l` puts a whole file in few requests; our producer lingers), so these tests fail
/// against tansu without the relay's fix.
final class KafkaBatchedWatermarkTests: XCTestCase {
    static let count = 3000

    func testKcatBatchedProduceGivesTrueWatermarksLagAndEnd() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 1, prefix: "batched-kcat")
        let lines = (0..<Self.count).map { "line-\($0)" }.joined(separator: "\n") + "\n"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(KafkaTestSupport.uniqueName("lines"))
        try Data(lines.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        // -l: the whole file as one producer run; linger so that thousands share a request.
        _ = try await Self.run(
            "/usr/bin/kcat",
            ["-b", KafkaTestSupport.brokers, "-P", "-t", topic, "-p", "0", "-l", "-X", "linger.ms=100", file.path],
            timeout: .seconds(60))

        let consumer = try KafkaConsumer(
            configuration: KafkaTestSupport.consumerConfiguration(group: KafkaTestSupport.uniqueName("g")),
            logger: KafkaTestSupport.logger)
        let marks = try await consumer.watermarks(topic: topic, partition: 0)
        XCTAssertEqual(marks, KafkaWatermarks(low: 0, high: Int64(Self.count)), "high watermark = records produced")

        // A consumer reads to the end: every record, offsets 0..<count, then lag 0 after commit.
        try consumer.subscribe(topics: [topic])
        let received = try await KafkaTestSupport.collect(Self.count, from: consumer, timeout: .seconds(90))
        XCTAssertEqual(received.map(\.offset), (0..<Int64(Self.count)).map { $0 })
        XCTAssertEqual(received.last?.text, "line-\(Self.count - 1)")
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        let halfway = received[Self.count / 2 - 1]
        try consumer.storeOffset(halfway)
        try await consumer.commit()
        let committedHalf = try await consumer.committed([partition]).first?.offset ?? -1
        let again = try await consumer.watermarks(topic: topic, partition: 0)
        XCTAssertEqual(again.high - committedHalf, Int64(Self.count / 2), "lag halfway = records not yet committed")
        try consumer.storeOffset(received[Self.count - 1])
        try await consumer.commit()
        let committedAll = try await consumer.committed([partition]).first?.offset ?? -1
        XCTAssertEqual(again.high - committedAll, 0, "no lag after committing everything")

        // Offsets for times: before the first record → 0; after the last → Kafka's -1, which
        // the wrapper reports as nil ("no such message"); tansu alone answers 0.
        let first = try await consumer.offsets(forTimes: [KafkaTopicPartition(topic: topic, partition: 0, offset: 0)])
        XCTAssertEqual(first.first?.offset, 0)
        let future = Int64(Date().timeIntervalSince1970 * 1000) + 3_600_000
        let past = try await consumer.offsets(forTimes: [KafkaTopicPartition(topic: topic, partition: 0, offset: future)])
        XCTAssertEqual(past.count, 1)
        XCTAssertNil(past.first?.offset, "no record at or after a time past the end")
        await consumer.close()

        // Fetch's own high watermark (what `kcat -e` stops at) agrees: exactly `count` records.
        let output = try await Self.run(
            "/usr/bin/kcat",
            ["-b", KafkaTestSupport.brokers, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o\n"],
            timeout: .seconds(60))
        let offsets = output.split(separator: "\n")
        XCTAssertEqual(offsets.count, Self.count)
        XCTAssertEqual(offsets.last.map(String.init), "\(Self.count - 1)")
    }

    func testLingeringProducerGivesTrueWatermarksOnEveryPartition() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 3, prefix: "batched-linger")
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                client: KafkaTestSupport.client, linger: .milliseconds(50), deliveryTimeout: .seconds(30)),
            logger: KafkaTestSupport.logger)
        let reports = try await withThrowingTaskGroup(of: KafkaDeliveryReport.self) { group in
            for i in 0..<Self.count {
                group.addTask {
                    try await producer.send(
                        KafkaProducerMessage(topic: topic, key: Array("k-\(i)".utf8), value: Array("v-\(i)".utf8)))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        await producer.close()
        XCTAssertEqual(reports.count, Self.count)

        var perPartition: [Int32: Int64] = [:]
        for report in reports { perPartition[report.partition, default: 0] += 1 }
        XCTAssertGreaterThan(perPartition.count, 1, "keys spread over partitions")
        let consumer = try KafkaConsumer(
            configuration: KafkaTestSupport.consumerConfiguration(group: KafkaTestSupport.uniqueName("g")),
            logger: KafkaTestSupport.logger)
        var total: Int64 = 0
        for partition in Int32(0)..<3 {
            let marks = try await consumer.watermarks(topic: topic, partition: partition)
            let produced = perPartition[partition] ?? 0
            XCTAssertEqual(marks, KafkaWatermarks(low: 0, high: produced), "partition \(partition)")
            // Offsets are dense from 0, so the largest delivered offset + 1 is the end too.
            let last = reports.filter { $0.partition == partition }.map(\.offset).max().map { $0 + 1 } ?? 0
            XCTAssertEqual(marks.high, last, "partition \(partition)")
            total += marks.high
        }
        XCTAssertEqual(total, Int64(Self.count))

        try consumer.subscribe(topics: [topic])
        let received = try await KafkaTestSupport.collect(Self.count, from: consumer, timeout: .seconds(90))
        XCTAssertEqual(Set(received.map(\.text)), Set((0..<Self.count).map { "v-\($0)" }))
        await consumer.close()
    }

    /// The relay's own parsers on hand-built Produce/ListOffsets frames of the classic and the
    /// flexible versions (v7/v2, v9/v7, v11/v9, v3/v0): the Java clients' versions, which no
    /// client on this machine sends.
    func testRelayParsersSelfTest() async throws {
        let script = RepositoryRoot.url.appendingPathComponent("scripts/kafka_relay.py")
        let output = try await Self.run("/usr/bin/python3", [script.path, "--self-test"], timeout: .seconds(30))
        XCTAssertEqual(output, "kafka_relay self-test: ok\n")
    }

    /// Runs a child process with its output in a file, killing it (and failing) when it does
    /// not finish within `timeout`. Returns standard output.
    static func run(_ executable: String, _ arguments: [String], timeout: Duration) async throws -> String {
        let (status, output) = try await ChildProcess.capture(executable, arguments, timeout: timeout)
        XCTAssertEqual(status, 0, "\(executable) \(arguments.joined(separator: " "))")
        return String(decoding: output, as: UTF8.self)
    }
}
