import Foundation
import Kafka
import TestSupport
import XCTest

/// Consumer-group behaviour against the real local broker.
final class KafkaGroupTests: XCTestCase {
    private func makeConsumer(group: String, topic: String, autoCommit: Bool = false) throws -> KafkaConsumer {
        let consumer = try KafkaConsumer(
            configuration: KafkaTestSupport.consumerConfiguration(group: group, autoCommit: autoCommit),
            logger: KafkaTestSupport.logger)
        try consumer.subscribe(topics: [topic])
        return consumer
    }

    /// Keeps a consumer's message buffer drained in the background (members must consume).
    private func drain(_ consumer: KafkaConsumer) -> Task<Void, Never> {
        Task { for await _ in consumer.messages {} }
    }

    func testTwoConsumersSplitPartitionsAndSurvivorTakesAllWhenOneLeaves() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 4, prefix: "split")
        let group = KafkaTestSupport.uniqueName("g")
        let a = try makeConsumer(group: group, topic: topic)
        let drainA = drain(a)
        try await KafkaTestSupport.waitUntil("first member owns all 4 partitions") { a.assignment.count == 4 }

        let b = try makeConsumer(group: group, topic: topic)
        let drainB = drain(b)
        try await KafkaTestSupport.waitUntil("two members split 4 partitions") {
            a.assignment.count == 2 && b.assignment.count == 2
        }
        XCTAssertTrue(Set(a.assignment).isDisjoint(with: b.assignment))
        XCTAssertEqual(Set(a.assignment + b.assignment).count, 4)

        // Both receive their share of messages.
        try await KafkaTestSupport.produce(40, to: topic)
        await KafkaTestSupport.close(b)
        drainB.cancel()
        try await KafkaTestSupport.waitUntil("survivor owns all 4 after the other leaves") { a.assignment.count == 4 }
        drainA.cancel()
        await KafkaTestSupport.close(a)
    }

    func testSurvivorTakesAllWhenChildProcessMemberIsKilled() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 4, prefix: "kill")
        let group = KafkaTestSupport.uniqueName("g")
        let a = try makeConsumer(group: group, topic: topic)
        let drainA = drain(a)
        try await KafkaTestSupport.waitUntil("first member owns all 4 partitions") { a.assignment.count == 4 }

        // The other member is a separate process: kcat's balanced consumer (librdkafka),
        // with the same assignment strategy and session timeout.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/kcat")
        child.arguments = [
            "-b", KafkaTestSupport.brokers, "-G", group,
            "-X", "partition.assignment.strategy=cooperative-sticky",
            "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
            "-q", topic,
        ]
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        defer { ChildProcess.killIfRunning(child) }
        try await KafkaTestSupport.waitUntil("child process takes half of the partitions") { a.assignment.count == 2 }

        kill(child.processIdentifier, SIGKILL)
        await KafkaTestSupport.waitForExit(child, timeout: .seconds(10))
        XCTAssertEqual(ChildProcess.exitStatus(child), 128 + SIGKILL, "the child died of SIGKILL")
        // No leave-group from a killed process: the broker notices after the session timeout.
        try await KafkaTestSupport.waitUntil("survivor owns all 4 after the child is killed", timeout: .seconds(40)) {
            a.assignment.count == 4
        }
        drainA.cancel()
        await KafkaTestSupport.close(a)
    }

    func testCommitCloseReopenResumesRightAfterLastCommit() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 1, prefix: "resume")
        try await KafkaTestSupport.produce(30, to: topic)
        let group = KafkaTestSupport.uniqueName("g")

        let first = try makeConsumer(group: group, topic: topic)
        let firstBatch = try await KafkaTestSupport.collect(12, from: first)
        XCTAssertEqual(firstBatch.map(\.offset), Array(0..<12))
        for message in firstBatch.prefix(10) { try first.storeOffset(message) }
        try await first.commit()
        let committed = try await first.committed([KafkaTopicPartition(topic: topic, partition: 0)])
        XCTAssertEqual(committed.first?.offset, 10)
        await KafkaTestSupport.close(first)

        // Messages 10 and 11 were read but not stored: at-least-once means they come again.
        let second = try makeConsumer(group: group, topic: topic)
        let rest = try await KafkaTestSupport.collect(20, from: second)
        XCTAssertEqual(rest.map(\.offset), Array(10..<30))
        XCTAssertEqual(rest.first?.text, "m-10")
        // Lag from committed offset and high watermark.
        for message in rest { try second.storeOffset(message) }
        try await second.commit()
        let marks = try await second.watermarks(topic: topic, partition: 0)
        let now = try await second.committed([KafkaTopicPartition(topic: topic, partition: 0)])
        XCTAssertEqual(marks.high - (now.first?.offset ?? -1), 0, "no lag after committing everything")
        await KafkaTestSupport.close(second)
    }

    func testAutoCommitCommitsOnlyStoredOffsets() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 1, prefix: "autocommit")
        try await KafkaTestSupport.produce(10, to: topic)
        let group = KafkaTestSupport.uniqueName("g")
        let consumer = try makeConsumer(group: group, topic: topic, autoCommit: true)
        let messages = try await KafkaTestSupport.collect(10, from: consumer)
        try consumer.storeOffset(messages[3])
        // Closing commits what was stored (offset 4), not what was read (10).
        await KafkaTestSupport.close(consumer)
        let check = try makeConsumer(group: group, topic: topic)
        let committed = try await check.committed([KafkaTopicPartition(topic: topic, partition: 0)])
        XCTAssertEqual(committed.first?.offset, 4)
        let again = try await KafkaTestSupport.collect(6, from: check)
        XCTAssertEqual(again.map(\.offset), Array(4..<10))
        await KafkaTestSupport.close(check)
    }

    func testPauseAndResume() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 2, prefix: "pause")
        let consumer = try makeConsumer(group: KafkaTestSupport.uniqueName("g"), topic: topic)
        try await KafkaTestSupport.waitUntil("assignment") { consumer.assignment.count == 2 }
        let paused = KafkaTopicPartition(topic: topic, partition: 0)
        try consumer.pause([paused])
        XCTAssertEqual(consumer.pausedPartitions, [paused])
        try await KafkaTestSupport.produce(5, to: topic, prefix: "p0", partition: 0)
        try await KafkaTestSupport.produce(5, to: topic, prefix: "p1", partition: 1)

        let unpaused = try await KafkaTestSupport.collect(5, from: consumer)
        XCTAssertEqual(Set(unpaused.map(\.partition)), [1])
        try await Task.sleep(for: .seconds(2))
        XCTAssertEqual(consumer.bufferedMessageCount, 0, "nothing arrives from a paused partition")

        try consumer.resume([paused])
        XCTAssertEqual(consumer.pausedPartitions, [])
        let resumed = try await KafkaTestSupport.collect(5, from: consumer)
        XCTAssertEqual(resumed.map(\.text), (0..<5).map { "p0-\($0)" })
        await KafkaTestSupport.close(consumer)
    }

    func testSeekRereadsFromOffset() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 1, prefix: "seek")
        try await KafkaTestSupport.produce(10, to: topic)
        let consumer = try makeConsumer(group: KafkaTestSupport.uniqueName("g"), topic: topic)
        _ = try await KafkaTestSupport.collect(10, from: consumer)
        try await consumer.seek([KafkaTopicPartition(topic: topic, partition: 0, offset: 6)])
        let again = try await KafkaTestSupport.collect(4, from: consumer)
        XCTAssertEqual(again.map(\.offset), [6, 7, 8, 9])
        let position = try consumer.positions([KafkaTopicPartition(topic: topic, partition: 0)])
        XCTAssertEqual(position.first?.offset, 10)
        await KafkaTestSupport.close(consumer)
    }

    func testRevokeWaitsForAcknowledgementAndDropsBufferedMessages() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 4, prefix: "revoke")
        try await KafkaTestSupport.produceFast(400, to: topic)
        let group = KafkaTestSupport.uniqueName("g")
        let a = try makeConsumer(group: group, topic: topic)
        let revoked = AsyncStream<([KafkaTopicPartition], RevokeAcknowledgement)>.makeStream()
        let listener = Task {
            var first = true
            for await event in a.events {
                if case .partitionsRevoked(let partitions, let ack) = event {
                    // The test holds the first revoke; later ones (a's own close) pass at once.
                    if first { revoked.continuation.yield((partitions, ack)) } else { ack.acknowledge() }
                    first = false
                }
            }
        }
        try await KafkaTestSupport.waitUntil("a owns 4 and has buffered messages") {
            a.assignment.count == 4 && a.bufferedMessageCount > 0
        }
        // a reads nothing: its messages stay buffered.
        let b = try makeConsumer(group: group, topic: topic)
        let drainB = drain(b)
        let firstRevoke = try await BoundedWait.within(.seconds(60), "the first revoke") {
            var iterator = revoked.stream.makeAsyncIterator()
            return await iterator.next()
        }
        guard let (partitions, ack) = firstRevoke else { return XCTFail("no revoke event") }
        XCTAssertEqual(partitions.count, 2)
        // Buffered messages of the revoked partitions are gone before the event arrives.
        let remaining = a.takeAvailable(max: 10_000)
        XCTAssertTrue(remaining.allSatisfy { !partitions.contains($0.topicPartition) })
        // While a has not acknowledged, b cannot own what a is giving up.
        try await Task.sleep(for: .seconds(2))
        XCTAssertTrue(Set(b.assignment).isDisjoint(with: partitions), "b got \(b.assignment) before the ack")
        ack.acknowledge()
        try await KafkaTestSupport.waitUntil("b owns the revoked partitions after the ack") {
            Set(b.assignment) == Set(partitions)
        }
        XCTAssertEqual(a.assignment.count, 2)
        drainB.cancel()
        await KafkaTestSupport.close(b)
        await KafkaTestSupport.close(a)
        listener.cancel()
    }

    func testFlowControlBoundsTheBufferAndLosesNothing() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 2, prefix: "flow")
        try await KafkaTestSupport.produceFast(3_000, to: topic)
        var configuration = KafkaTestSupport.consumerConfiguration(group: KafkaTestSupport.uniqueName("g"))
        configuration.maxBufferedMessages = 100
        let consumer = try KafkaConsumer(configuration: configuration, logger: KafkaTestSupport.logger)
        try consumer.subscribe(topics: [topic])
        try await KafkaTestSupport.waitUntil("buffer fills and fetching pauses") {
            consumer.pausedPartitions.count == 2
        }
        try await Task.sleep(for: .seconds(1))
        // The overshoot is at most what one fetch response held when the pause took effect.
        XCTAssertLessThan(consumer.bufferedMessageCount, 100 + 2_000)
        let all = try await KafkaTestSupport.collect(3_000, from: consumer, timeout: .seconds(60))
        XCTAssertEqual(Set(all.map(\.text)).count, 3_000, "every message exactly once")
        await KafkaTestSupport.close(consumer)
    }
}
