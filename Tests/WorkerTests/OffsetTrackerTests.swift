import Kafka
import Worker
import XCTest

final class OffsetTrackerTests: XCTestCase {
    let p0 = KafkaTopicPartition(topic: "t", partition: 0)
    let p1 = KafkaTopicPartition(topic: "t", partition: 1)

    private func message(_ partition: KafkaTopicPartition, _ offset: Int64, epoch: UInt64 = 1) -> KafkaConsumerMessage {
        KafkaConsumerMessage(topic: partition.topic, partition: partition.partition, offset: offset, assignmentEpoch: epoch)
    }

    func testPositionAdvancesOnlyOverAContiguousAnsweredPrefix() {
        let tracker = OffsetTracker()
        for offset in 10..<15 { XCTAssertTrue(tracker.register(message(p0, Int64(offset)))) }
        XCTAssertNil(tracker.complete(message(p0, 12)), "11 and 10 are still open")
        XCTAssertNil(tracker.complete(message(p0, 11)))
        XCTAssertEqual(tracker.complete(message(p0, 10)), 13, "10, 11, 12 done: next to read is 13")
        XCTAssertNil(tracker.complete(message(p0, 14)))
        XCTAssertEqual(tracker.complete(message(p0, 13)), 15)
        XCTAssertNil(tracker.complete(message(p0, 13)), "completing twice changes nothing")
        XCTAssertEqual(tracker.pendingCount(), 0)
    }

    func testPartitionsAreIndependent() {
        let tracker = OffsetTracker()
        XCTAssertTrue(tracker.register(message(p0, 0)))
        XCTAssertTrue(tracker.register(message(p1, 0)))
        XCTAssertTrue(tracker.register(message(p1, 1)))
        XCTAssertEqual(tracker.complete(message(p1, 0)), 1)
        XCTAssertEqual(tracker.pendingCount(in: [p0]), 1)
        XCTAssertEqual(tracker.pendingCount(in: [p1]), 1)
        XCTAssertEqual(tracker.complete(message(p0, 0)), 1)
    }

    func testAbandonedMessageFreezesThePosition() {
        let tracker = OffsetTracker()
        for offset in 0..<6 { XCTAssertTrue(tracker.register(message(p0, Int64(offset)))) }
        XCTAssertEqual(tracker.complete(message(p0, 0)), 1)
        // 3 and 4 are dropped unanswered (e.g. queued at revoke); 1, 2, 5 finish later.
        tracker.abandon(message(p0, 3))
        tracker.abandon(message(p0, 4))
        XCTAssertNil(tracker.complete(message(p0, 5)))
        XCTAssertNil(tracker.complete(message(p0, 2)))
        XCTAssertEqual(tracker.complete(message(p0, 1)), 3, "never past the first abandoned offset")
        XCTAssertEqual(tracker.pendingCount(), 0)
    }

    /// Issue 13.7: a message taken from the consumer just before its partition was revoked
    /// must not start a fresh state and store `offset + 1` past messages abandoned at the revoke.
    func testMessagesOfARevokedAssignmentAreRefusedAndTheirLateCompletionsIgnored() {
        let tracker = OffsetTracker()
        for offset in 0..<4 { XCTAssertTrue(tracker.register(message(p0, Int64(offset)))) }
        XCTAssertEqual(tracker.complete(message(p0, 0)), 1)
        // Revoke begins: new registrations under epoch 1 are refused, registered ones finish.
        tracker.disown([p0])
        XCTAssertFalse(tracker.register(message(p0, 4)), "read before the revoke, reaching intake after it")
        XCTAssertEqual(tracker.complete(message(p0, 1)), 2, "in-flight work of the revoked assignment still counts")
        tracker.forget([p0])
        XCTAssertEqual(tracker.pendingCount(), 0)
        XCTAssertFalse(tracker.register(message(p0, 5)), "still refused after the revoke completed")
        XCTAssertNil(tracker.complete(message(p0, 2)), "a late completion of a forgotten message stores nothing")

        // Re-assigned (epoch 2) from the committed position 2: a fresh state.
        XCTAssertTrue(tracker.register(message(p0, 2, epoch: 2)))
        XCTAssertTrue(tracker.register(message(p0, 3, epoch: 2)))
        XCTAssertFalse(tracker.register(message(p0, 4, epoch: 1)), "an older assignment never comes back")
        XCTAssertNil(tracker.complete(message(p0, 3, epoch: 1)), "same offset, old epoch: not this assignment's")
        XCTAssertNil(tracker.complete(message(p0, 3, epoch: 2)))
        tracker.abandon(message(p0, 2, epoch: 1))  // an old epoch cannot freeze the new state either
        XCTAssertEqual(tracker.complete(message(p0, 2, epoch: 2)), 4)
        XCTAssertEqual(tracker.pendingCount(), 0)
    }

    /// The store runs inside the completion: when `pendingCount()` reads 0 the last position
    /// is already stored (shutdown commits right after), and stores arrive in order.
    func testPositionsAreStoredInOrderBeforeTheMessageStopsCountingAsPending() {
        let tracker = OffsetTracker()
        let p0 = KafkaTopicPartition(topic: "t", partition: 0)
        for offset in Int64(0)..<3 { XCTAssertTrue(tracker.register(message(p0, offset))) }
        var stored: [Int64] = []
        tracker.complete(message(p0, 1)) { stored.append($0) }
        XCTAssertEqual(stored, [], "0 is still open")
        tracker.complete(message(p0, 0)) { stored.append($0) }
        XCTAssertEqual(stored, [2])
        XCTAssertEqual(tracker.pendingCount(), 1)
        tracker.complete(message(p0, 2)) { stored.append($0) }
        XCTAssertEqual(stored, [2, 3])
        XCTAssertEqual(tracker.pendingCount(), 0)
    }
}
