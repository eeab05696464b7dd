import Foundation
import Kafka
import ModerationProto
import TestSupport
import XCTest

/// `duoguard replay` (the real binary) against the real broker.
final class ReplayTests: XCTestCase {
    /// One message per produce request (no batching).
    private func produceOneByOne(_ count: Int, prefix: String, to topic: String) async throws {
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: WorkerTestSupport.client, linger: .zero), logger: WorkerTestSupport.logger)
        for i in 0..<count {
            let request = WorkerTestSupport.request(id: "\(prefix)-\(i)", text: "replayed text \(i)")
            try await producer.send(KafkaProducerMessage(
                topic: topic, key: Array(request.id.utf8), value: try ModerationCodec.encodeRequest(request, contentType: .protobuf)))
        }
        await producer.close()
    }

    private func replay(_ topics: WorkerTestSupport.Topics, group: String, range: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try WorkerTestSupport.binary)
        process.arguments = [
            "replay", "--brokers", WorkerTestSupport.brokers, "--topic", topics.input, "--output-topic", topics.output,
            "--dlq-topic", topics.deadLetters, "--group", group, "--model", try WorkerTestSupport.modelPath(),
            "--session-timeout-ms", "6000", "--commit-interval-ms", "200", "--log-level", "warning",
        ] + range
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        return process
    }

    private func counts(_ topic: String) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for result in try WorkerTestSupport.decodeResults(try await WorkerTestSupport.readAll(topic)) {
            XCTAssertEqual(result.status.code, .ok)
            counts[result.requestID, default: 0] += 1
        }
        return counts
    }

    func testReplayToEndStopsAndResumesWithoutRescoring() async throws {
        let topics = try await WorkerTestSupport.makeTopics(partitions: 2)
        let total = 3_000
        // Batched, as real producers write (linger, concurrent sends): the local broker's relay
        // must report the true high watermarks for "to end" to mean the end (issue 11).
        try await WorkerTestSupport.produce(
            (0..<total).map { WorkerTestSupport.request(id: "r-\($0)", text: "replayed text \($0)") }, to: topics.input)
        let group = "replay-\(UUID().uuidString.prefix(8))"

        // Interrupt the first run once it has produced some results. The watcher joins its
        // group before the replay starts (a join takes ~3 s here), so it sees the first
        // results as they come and the interrupt lands early in the range.
        let watcher = Task { try await WorkerTestSupport.read(topics.output, count: 200, timeout: .seconds(120)) }
        try await Task.sleep(for: .seconds(5))
        let first = try replay(topics, group: group, range: ["--from-beginning", "--to-end"])
        _ = try await watcher.value
        kill(first.processIdentifier, SIGINT)
        let firstStatus = await ChildProcess.waitForExit(first, timeout: .seconds(300), "duoguard replay")
        XCTAssertEqual(firstStatus, 0, "an interrupted replay stops cleanly")
        let partial = try await counts(topics.output)
        XCTAssertLessThan(partial.count, total, "the first run was interrupted before the end")

        // The second run resumes from the group's committed position.
        let second = try replay(topics, group: group, range: ["--from-beginning", "--to-end"])
        let secondStatus = await ChildProcess.waitForExit(second, timeout: .seconds(300), "duoguard replay")
        XCTAssertEqual(secondStatus, 0)
        let all = try await counts(topics.output)
        XCTAssertEqual(all.count, total, "every request in the range scored")
        XCTAssertEqual(all.values.filter { $0 > 1 }.count, 0, "nothing scored twice across the restart")

        // Done means done: a third run finds nothing left and exits at once.
        let third = try replay(topics, group: group, range: ["--from-beginning", "--to-end"])
        let thirdStatus = await ChildProcess.waitForExit(third, timeout: .seconds(300), "duoguard replay")
        XCTAssertEqual(thirdStatus, 0)
        let after = try await counts(topics.output)
        XCTAssertEqual(after.values.reduce(0, +), total)
    }

    func testReplayBetweenTimes() async throws {
        let topics = try await WorkerTestSupport.makeTopics(partitions: 2)
        try await produceOneByOne(20, prefix: "before", to: topics.input)
        try await Task.sleep(for: .milliseconds(1100))
        let from = ISO8601DateFormatter().string(from: Date())
        try await Task.sleep(for: .milliseconds(1100))
        try await produceOneByOne(30, prefix: "inside", to: topics.input)
        try await Task.sleep(for: .milliseconds(1100))
        let to = ISO8601DateFormatter().string(from: Date())
        try await Task.sleep(for: .milliseconds(1100))
        try await produceOneByOne(20, prefix: "after", to: topics.input)

        let process = try replay(
            topics, group: "replay-\(UUID().uuidString.prefix(8))", range: ["--from-time", from, "--to-time", to])
        let processStatus = await ChildProcess.waitForExit(process, timeout: .seconds(300), "duoguard replay")
        XCTAssertEqual(processStatus, 0)
        let scored = try await counts(topics.output)
        XCTAssertEqual(Set(scored.keys), Set((0..<30).map { "inside-\($0)" }))
    }

    /// Issue 21 item 7: a topic written by a transactional producer ends with a commit marker
    /// (offset high watermark - 1) that is never delivered; `--to-end` must still finish
    /// (the end is the last consumable offset, from librdkafka's partition EOF).
    func testReplayToEndFinishesOnATransactionalTopic() async throws {
        let topics = try await WorkerTestSupport.makeTopics(partitions: 1)
        let records = try (0..<20).map { i -> (key: [UInt8], value: [UInt8]) in
            let request = WorkerTestSupport.request(id: "tx-\(i)", text: "transactional text \(i)")
            return (Array(request.id.utf8), try ModerationCodec.encodeRequest(request, contentType: .protobuf))
        }
        try TransactionalWriter.write(records, topic: topics.input, brokers: WorkerTestSupport.brokers)
        let group = "replay-tx-\(UUID().uuidString.prefix(8))"
        let started = ContinuousClock.now
        let run = try replay(topics, group: group, range: ["--from-beginning", "--to-end"])
        let status = await ChildProcess.waitForExit(run, timeout: .seconds(120), "duoguard replay on a transactional topic")
        print("replay --to-end on a transactional topic (20 records + commit marker): exit \(status) after \(ContinuousClock.now - started)")
        XCTAssertEqual(status, 0, "the replay finished")
        let all = try await counts(topics.output)
        XCTAssertEqual(all.count, 20, "every record scored")
    }
}
