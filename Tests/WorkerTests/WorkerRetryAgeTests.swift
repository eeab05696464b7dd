import Foundation
import Kafka
import ModerationProto
import TestSupport
import Worker
import XCTest

/// Issue 21 item 1 on the real broker: a `reply-to` topic that exists but answers every
/// produce with a retriable error (the relay's refuse list, docs/kafka.md: NOT_ENOUGH_REPLICAS)
/// freezes its partition only until `--max-retry-age-ms`: then the request is dead-lettered
/// `UNDELIVERABLE` with the last error, and the partition's committed offset reaches its end.
final class WorkerRetryAgeTests: XCTestCase {
    /// `.run/broker-PORT/refuse-produce` of the test broker (scripts/broker.sh).
    private var refuseFile: URL {
        let port = WorkerTestSupport.brokers.split(separator: ",")[0].split(separator: ":").last.map(String.init) ?? "9092"
        return WorkerTestSupport.root.appendingPathComponent(".run/broker-\(port)/refuse-produce")
    }

    private func committed(group: String, topic: String) async throws -> Int64? {
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(client: WorkerTestSupport.client, groupID: group), logger: WorkerTestSupport.logger)
        let positions = try await consumer.committed([KafkaTopicPartition(topic: topic, partition: 0)], timeout: .seconds(10))
        try await BoundedWait.within(.seconds(60), "closing the offsets reader") { await consumer.close() }
        return positions.first?.offset
    }

    /// librdkafka retries a retriable produce error itself until `message.timeout.ms` and
    /// reports nothing before it; the producer's timeout is capped at the retry age, or a
    /// result could not be given up before 120 s whatever `--max-retry-age-ms` says (this
    /// test's first run waited 120 s for its dead letter).
    func testTheProducersDeliveryTimeoutIsCappedAtTheRetryAge() {
        var configuration = WorkerConfiguration(
            kafka: KafkaConfiguration(bootstrapServers: ["127.0.0.1:1"]), groupID: "g", inputTopics: ["in"], outputTopic: "out",
            deadLetterTopic: "dlq")
        XCTAssertEqual(configuration.producerConfiguration.deliveryTimeout, .seconds(120), "default age 300 s: librdkafka's 120 s")
        configuration.maxRetryAge = .seconds(4)
        XCTAssertEqual(configuration.producerConfiguration.deliveryTimeout, .seconds(4))
    }

    /// Skipped on tansu unless DUOGUARD_RETRY_AGE_TEST=1: after the refused result times out,
    /// librdkafka 2.0.2 bumps its idempotent producer's epoch locally (as Kafka allows), and
    /// tansu then refuses that producer's every produce, the dead letter included, with
    /// PRODUCER_FENCED (real Kafka accepts the bumped epoch). What it shows up to there: the
    /// result is given up after the age (5 s, not 120 s) and dead-lettered UNDELIVERABLE.
    func testRetriablyUnwritableReplyToIsDeadLetteredAfterTheAgeAndThePartitionCommitsToItsEnd() async throws {
        try XCTSkipUnless(
            ProcessInfo.processInfo.environment["DUOGUARD_RETRY_AGE_TEST"] == "1",
            "tansu fences an idempotent producer whose epoch librdkafka bumped (docs/kafka.md)")
        let model = try WorkerTestSupport.modelPath()
        let topics = try await WorkerTestSupport.makeTopics(partitions: 1)
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let unwritable = "rtr-\(suffix)"
        let admin = try KafkaAdmin(configuration: WorkerTestSupport.client, logger: WorkerTestSupport.logger)
        try await admin.createTopics([.init(name: unwritable, partitions: 1)])  // exists: not NOT_FOUND
        // NOT_ENOUGH_REPLICAS (19), retriable: librdkafka retries it until the worker gives up.
        try "\(unwritable) 19\n".write(to: refuseFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: refuseFile) }

        let group = "g-\(suffix)"
        let worker = try WorkerTestSupport.spawnWorker(
            topics, group: group, model: model, id: "retry-age",
            extra: ["--reply-to-allow", "rtr-.*", "--max-retry-age-ms", "4000", "--commit-interval-ms", "200"])
        defer { ChildProcess.killIfRunning(worker) }
        let stuck = WorkerTestSupport.request(id: "stuck", text: "answer me on an unwritable topic")
        try await WorkerTestSupport.produce([stuck], to: topics.input, headers: [KafkaHeader(key: ModerationHeader.replyTo, string: unwritable)])
        let behind = (0..<10).map { WorkerTestSupport.request(id: "behind-\($0)", text: "ordinary request \($0)") }
        try await WorkerTestSupport.produce(behind, to: topics.input)
        let sent = ContinuousClock.now

        let deadLetters = try await WorkerTestSupport.read(topics.deadLetters, count: 1, timeout: .seconds(120))
        let took = ContinuousClock.now - sent
        let letter = try XCTUnwrap(deadLetters.first)
        XCTAssertEqual(letter.headers.last(named: ModerationHeader.errorCode)?.stringValue, "UNDELIVERABLE")
        let message = letter.headers.last(named: ModerationHeader.errorMessage)?.stringValue ?? ""
        XCTAssertFalse(message.isEmpty, "carries the last error")
        XCTAssertEqual(letter.headers.last(named: ModerationHeader.errorTargetTopic)?.stringValue, unwritable, "names the topic it could not write")
        XCTAssertEqual(letter.key.map { String(decoding: $0, as: UTF8.self) }, "stuck")
        XCTAssertGreaterThanOrEqual(took, .seconds(3), "retried for about the age first (4 s from its first attempt)")
        let results = try WorkerTestSupport.decodeResults(try await WorkerTestSupport.read(topics.output, count: 10, timeout: .seconds(60)))
        XCTAssertEqual(Set(results.map(\.requestID)), Set(behind.map(\.id)), "the requests behind it are answered")
        let replies = try await WorkerTestSupport.readAll(unwritable, quiet: .seconds(2))
        XCTAssertTrue(replies.isEmpty, "nothing was written to the refused topic")

        // The partition's committed offset reaches its end (11 records: 0...10).
        var position: Int64?
        for _ in 0..<60 {
            position = try await committed(group: group, topic: topics.input)
            if position == 11 { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        print("retry-age test: UNDELIVERABLE dead letter after \(took) (\(message)); committed \(position.map(String.init) ?? "none") of 11")
        XCTAssertEqual(position, 11)
        worker.terminate()
        let status = await ChildProcess.waitForExit(worker, timeout: .seconds(90), "worker after SIGTERM")
        XCTAssertEqual(status, 0)
    }
}
