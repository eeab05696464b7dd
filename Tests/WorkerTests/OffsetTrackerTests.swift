import Kafka
import Worker
import XCTest

final class OffsetTrackerTests: XCTestCase {
    let p0 = KafkaTopicPartition(topic: "t", partition: 0)
    let p1 = KafkaTopicPartition(topic: "t", partition: 1)

    func testPositionAdvancesOnlyOverAContiguousAnsweredPrefix() {
        let tracker = OffsetTracker()
        for offset in 10..<15 { tracker.register(p0, offset: Int64(offset)) }
        XCTAssertNil(tracker.complete(p0, offset: 12), "11 and 10 are still open")
        XCTAssertNil(tracker.complete(p0, offset: 11))
        XCTAssertEqual(tracker.complete(p0, offset: 10), 13, "10, 11, 12 done: next to read is 13")
        XCTAssertNil(tracker.complete(p0, offset: 14))
        XCTAssertEqual(tracker.complete(p0, offset: 13), 15)
        XCTAssertNil(tracker.complete(p0, offset: 13), "completing twice changes nothing")
        XCTAssertEqual(tracker.pendingCount(), 0)
    }

    func testPartitionsAreIndependent() {
        let tracker = OffsetTracker()
        tracker.register(p0, offset: 0)
        tracker.register(p1, offset: 0)
        tracker.register(p1, offset: 1)
        XCTAssertEqual(tracker.complete(p1, offset: 0), 1)
        XCTAssertEqual(tracker.pendingCount(in: [p0]), 1)
        XCTAssertEqual(tracker.pendingCount(in: [p1]), 1)
        XCTAssertEqual(tracker.complete(p0, offset: 0), 1)
    }

    func testAbandonedMessageFreezesThePosition() {
        let tracker = OffsetTracker()
        for offset in 0..<6 { tracker.register(p0, offset: Int64(offset)) }
        XCTAssertEqual(tracker.complete(p0, offset: 0), 1)
        // 3 and 4 are dropped unanswered (e.g. queued at revoke); 1, 2, 5 finish later.
        tracker.abandon(p0, offset: 3)
        tracker.abandon(p0, offset: 4)
        XCTAssertNil(tracker.complete(p0, offset: 5))
        XCTAssertNil(tracker.complete(p0, offset: 2))
        XCTAssertEqual(tracker.complete(p0, offset: 1), 3, "never past the first abandoned offset")
        XCTAssertEqual(tracker.pendingCount(), 0)
    }
}
