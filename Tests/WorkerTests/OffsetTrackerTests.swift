import Kafka
import Worker
import XCTest

final class OffsetTrackerTests: XCTestCase {
    let p0 = KafkaTopicPartition(topic: "t", partition: 0)
    let p1 = KafkaTopicPartition(topic: "t", partition: 1)

    private func message(_ partition: KafkaTopicPartition, _ offset: Int64) -> KafkaConsumerMessage {
        KafkaConsumerMessage(topic: partition.topic, partition: partition.partition, offset: offset)
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
}
