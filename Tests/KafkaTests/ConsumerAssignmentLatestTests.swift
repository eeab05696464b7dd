import XCTest

@testable import Kafka

/// `holdsLatest`: where the worker may store a position reached under an assignment epoch.
final class ConsumerAssignmentLatestTests: XCTestCase {
    func testOnlyTheLatestUnreleasedAssignmentMayStore() {
        let p = KafkaTopicPartition(topic: "t", partition: 0)
        var state = ConsumerAssignment()
        XCTAssertFalse(state.holdsLatest(p, epoch: 1), "never assigned")
        _ = state.assign([p])
        XCTAssertTrue(state.holdsLatest(p, epoch: 1))
        state.beginRevoke([p])
        XCTAssertTrue(state.holdsLatest(p, epoch: 1), "during the revoke its in-flight answers are stored and committed")
        state.finishRevoke([p])
        XCTAssertFalse(state.holdsLatest(p, epoch: 1), "released")
        _ = state.assign([p])
        XCTAssertFalse(state.holdsLatest(p, epoch: 1), "a late answer of epoch 1 must not move epoch 2's position")
        XCTAssertTrue(state.holdsLatest(p, epoch: 2))
    }
}
