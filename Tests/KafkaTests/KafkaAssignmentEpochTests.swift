import Foundation
import Kafka
import XCTest

/// Assignment epochs against the real local broker: a partition's epoch moves on every time
/// it is assigned to this member, is `nil` from the start of its revoke, and every message
/// carries the epoch it was fetched under.
final class KafkaAssignmentEpochTests: XCTestCase {
    func testEpochsIncreaseAcrossRevokeAndReassignAndMessagesCarryThem() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 4, prefix: "epoch")
        let group = KafkaTestSupport.uniqueName("g")
        let all = (0..<4).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) }

        let a = try KafkaConsumer(
            configuration: KafkaTestSupport.consumerConfiguration(group: group), logger: KafkaTestSupport.logger)
        try a.subscribe(topics: [topic])
        // What the epoch of a revoked partition is while its revoke is being handled.
        let epochsAtRevoke = Locked<[Int32: UInt64?]>([:])
        let listener = Task {
            for await event in a.events {
                if case .partitionsRevoked(let partitions, let ack) = event {
                    epochsAtRevoke.update { seen in
                        for partition in partitions { seen[partition.partition] = a.assignmentEpoch(of: partition) }
                    }
                    ack.acknowledge()
                }
            }
        }
        let received = Locked<[KafkaConsumerMessage]>([])
        let reader = Task {
            for await message in a.messages { received.update { $0.append(message) } }
        }
        try await KafkaTestSupport.waitUntil("a owns all 4") { a.assignment.count == 4 }
        XCTAssertEqual(all.map { a.assignmentEpoch(of: $0) }, [1, 1, 1, 1])

        try await KafkaTestSupport.produce(4, to: topic, prefix: "first", partition: 0)
        try await KafkaTestSupport.waitUntil("a reads the first messages") { received.value.count == 4 }
        XCTAssertEqual(Set(received.value.map(\.assignmentEpoch)), [1])

        // b joins: a gives two partitions away and keeps two.
        let b = try KafkaConsumer(
            configuration: KafkaTestSupport.consumerConfiguration(group: group), logger: KafkaTestSupport.logger)
        try b.subscribe(topics: [topic])
        let drainB = Task { for await _ in b.messages {} }
        try await KafkaTestSupport.waitUntil("a and b own two each") { a.assignment.count == 2 && b.assignment.count == 2 }
        let given = all.filter { !a.assignment.contains($0) }
        let kept = a.assignment
        for partition in given {
            XCTAssertNil(a.assignmentEpoch(of: partition), "\(partition) is not a's any more")
            XCTAssertEqual(epochsAtRevoke.value[partition.partition], .some(nil), "already nil while the revoke is handled")
            XCTAssertEqual(b.assignmentEpoch(of: partition), 1, "b's first assignment of \(partition)")
        }
        for partition in kept { XCTAssertEqual(a.assignmentEpoch(of: partition), 1, "kept partitions keep their epoch") }

        // b leaves: the two come back to a, under a new epoch.
        drainB.cancel()
        await KafkaTestSupport.close(b)
        try await KafkaTestSupport.waitUntil("a owns all 4 again") { a.assignment.count == 4 }
        for partition in given { XCTAssertEqual(a.assignmentEpoch(of: partition), 2, "second assignment of \(partition)") }
        for partition in kept { XCTAssertEqual(a.assignmentEpoch(of: partition), 1) }

        // New messages on every partition carry the epoch of the assignment they came under.
        let before = received.value.count
        for partition in all {
            try await KafkaTestSupport.produce(2, to: topic, prefix: "second-\(partition.partition)", partition: partition.partition)
        }
        try await KafkaTestSupport.waitUntil("a reads the second messages") {
            received.value.filter { $0.text.hasPrefix("second-") }.count == 8
        }
        for message in received.value.dropFirst(before) {
            let expected: UInt64 = given.contains(message.topicPartition) ? 2 : 1
            XCTAssertEqual(message.assignmentEpoch, expected, "\(message.topicPartition)@\(message.offset) \(message.text)")
            XCTAssertEqual(message.assignmentEpoch, a.assignmentEpoch(of: message.topicPartition))
        }
        // A message of the first assignment of a partition given away is recognisably stale.
        if let old = received.value.first(where: { given.contains($0.topicPartition) && $0.assignmentEpoch == 1 }) {
            XCTAssertNotEqual(old.assignmentEpoch, a.assignmentEpoch(of: old.topicPartition))
        }

        reader.cancel()
        await KafkaTestSupport.close(a)
        XCTAssertNil(a.assignmentEpoch(of: all[0]), "nothing is assigned after close")
        listener.cancel()
    }
}
