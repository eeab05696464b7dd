import Kafka
import Synchronization
import Worker
import XCTest

final class RequestLedgerTests: XCTestCase {
    let p0 = KafkaTopicPartition(topic: "t", partition: 0)
    let p1 = KafkaTopicPartition(topic: "t", partition: 1)

    private func at(_ partition: KafkaTopicPartition, _ epoch: UInt64 = 1) -> RequestLedger.Assignment {
        RequestLedger.Assignment(partition, epoch: epoch)
    }

    /// Positions stored, in order.
    private final class Stored: Sendable {
        private let values = Mutex<[Int64]>([])
        var all: [Int64] { values.withLock { $0 } }
        var store: @Sendable (Int64) -> Void { { value in self.values.withLock { $0.append(value) } } }
    }

    func testPositionAdvancesOnlyOverAContiguousAnsweredPrefixAndIsStoredInOrder() {
        let ledger = RequestLedger()
        let stored = Stored()
        for offset in Int64(10)..<15 { XCTAssertTrue(ledger.register(at(p0), offset: offset)) }
        ledger.answered(at(p0), offset: 12, store: stored.store)
        ledger.answered(at(p0), offset: 11, store: stored.store)
        XCTAssertEqual(stored.all, [], "10 is still open")
        ledger.answered(at(p0), offset: 10, store: stored.store)
        XCTAssertEqual(stored.all, [13], "10, 11, 12 done: next to read is 13")
        XCTAssertEqual(ledger.unansweredCount(), 2)
        ledger.answered(at(p0), offset: 14, store: stored.store)
        ledger.answered(at(p0), offset: 13, store: stored.store)
        ledger.answered(at(p0), offset: 13, store: stored.store)
        XCTAssertEqual(stored.all, [13, 15], "answering twice changes nothing")
        XCTAssertEqual(ledger.unansweredCount(), 0)
        XCTAssertEqual(ledger.answeredThrough(p0), 15)
    }

    /// What a stop or revoke may hand back: nothing below a record answered (a score-cache
    /// hit answered at intake) or on its way (in a batch, being sent); everything of an
    /// assignment nothing has passed, and everything after a loss (forgotten).
    func testHighestTakenIsTheTopAnswerOrRecordOnItsWay() {
        let ledger = RequestLedger()
        let stored = Stored()
        for offset in Int64(0)..<6 { XCTAssertTrue(ledger.register(at(p0), offset: offset)) }
        for offset in Int64(0)..<3 { XCTAssertTrue(ledger.register(at(p1), offset: offset)) }
        // p0: 0 in a batch, 1 and 2 queued, 3 a hit answered at intake, 4 queued, 5 being sent.
        ledger.answered(at(p0), offset: 3, store: stored.store)
        XCTAssertEqual(ledger.highestTaken(queued: [at(p0): [1, 2, 4]]), [at(p0): 5], "5 is on its way: keep 1, 2, 4")
        ledger.answered(at(p0), offset: 5, store: stored.store)
        XCTAssertEqual(ledger.highestTaken(queued: [at(p0): [1, 2, 4]]), [at(p0): 5], "5 answered: still above them")
        ledger.answered(at(p0), offset: 0, store: stored.store)
        XCTAssertEqual(ledger.highestTaken(queued: [at(p0): [1, 2, 4]]), [at(p0): 5])
        XCTAssertEqual(stored.all, [1], "1 is still open")
        // p1: 0 answered (below everything queued), 1 and 2 queued: all may go back.
        ledger.answered(at(p1), offset: 0, store: stored.store)
        XCTAssertEqual(ledger.highestTaken(queued: [at(p1): [1, 2]]), [:])
        ledger.forget([at(p0)])
        XCTAssertEqual(ledger.highestTaken(queued: [at(p0): [1, 2, 4]]), [:], "a lost assignment hands everything back")
    }

    func testPartitionsAreIndependent() {
        let ledger = RequestLedger()
        let stored = Stored()
        XCTAssertTrue(ledger.register(at(p0), offset: 0))
        XCTAssertTrue(ledger.register(at(p1), offset: 0))
        XCTAssertTrue(ledger.register(at(p1), offset: 1))
        ledger.answered(at(p1), offset: 0, store: stored.store)
        XCTAssertEqual(ledger.unansweredCount(in: [at(p0)]), 1)
        XCTAssertEqual(ledger.unansweredCount(in: [at(p1)]), 1)
        XCTAssertEqual(stored.all, [1])
    }

    func testHandedBackRecordFreezesThePosition() {
        let ledger = RequestLedger()
        let stored = Stored()
        for offset in Int64(0)..<6 { XCTAssertTrue(ledger.register(at(p0), offset: offset)) }
        ledger.answered(at(p0), offset: 0, store: stored.store)
        // 3 and 4 are handed back (queued at revoke); 1, 2, 5 finish later.
        ledger.handBack(at(p0), offset: 3)
        ledger.handBack(at(p0), offset: 4)
        for offset in [Int64(5), 2, 1] { ledger.answered(at(p0), offset: offset, store: stored.store) }
        XCTAssertEqual(stored.all, [1, 3], "never past the first handed-back offset")
        XCTAssertEqual(ledger.unansweredCount(), 0)
    }

    /// Issue 13.7: a record taken just before its partition was revoked must not start a fresh
    /// state and store `offset + 1` past records handed back at the revoke.
    func testRecordsOfARevokedAssignmentAreRefusedAndTheirLateAnswersIgnored() {
        let ledger = RequestLedger()
        let stored = Stored()
        for offset in Int64(0)..<4 { XCTAssertTrue(ledger.register(at(p0), offset: offset)) }
        ledger.answered(at(p0), offset: 0, store: stored.store)
        ledger.disown([at(p0)])
        XCTAssertFalse(ledger.register(at(p0), offset: 4), "read before the revoke, reaching intake after it")
        ledger.answered(at(p0), offset: 1, store: stored.store)
        XCTAssertEqual(stored.all, [1, 2], "in-flight work of the revoked assignment still counts")
        ledger.forget([at(p0)])
        XCTAssertEqual(ledger.unansweredCount(), 0)
        XCTAssertFalse(ledger.register(at(p0), offset: 5), "still refused after the revoke completed")
        ledger.answered(at(p0), offset: 2, store: stored.store)
        XCTAssertEqual(stored.all, [1, 2], "a late answer of a forgotten record stores nothing")

        // Re-assigned (epoch 2) from the committed position 2.
        XCTAssertTrue(ledger.register(at(p0, 2), offset: 2))
        XCTAssertTrue(ledger.register(at(p0, 2), offset: 3))
        XCTAssertFalse(ledger.register(at(p0, 1), offset: 4), "an older assignment never comes back")
        ledger.handBack(at(p0, 1), offset: 2)  // an old epoch cannot freeze the new state
        ledger.answered(at(p0, 2), offset: 3, store: stored.store)
        ledger.answered(at(p0, 2), offset: 2, store: stored.store)
        XCTAssertEqual(stored.all, [1, 2, 4])
    }

    /// Issue 17 problem 1: the cleanup of epoch 1 running after epoch 2 registered leaves
    /// epoch 2 alone (before, its pending set was emptied and the partition refused for ever).
    func testALateCleanupOfAnOldAssignmentDoesNotTouchTheNextOne() {
        let ledger = RequestLedger()
        let stored = Stored()
        XCTAssertTrue(ledger.register(at(p0, 1), offset: 0))
        ledger.disown([at(p0, 1)])  // revoke of epoch 1 begins, and outlasts the consumer's wait
        XCTAssertTrue(ledger.register(at(p0, 2), offset: 0), "re-assigned: epoch 2 reads from the commit")
        ledger.forget([at(p0, 1)])  // the old handler finally cleans up
        XCTAssertEqual(ledger.unansweredCount(in: [at(p0, 2)]), 1)
        XCTAssertTrue(ledger.register(at(p0, 2), offset: 1), "epoch 2 still takes records")
        ledger.answered(at(p0, 2), offset: 0, store: stored.store)
        ledger.answered(at(p0, 2), offset: 1, store: stored.store)
        XCTAssertEqual(stored.all, [1, 2])
    }

    func testAnOlderAssignmentStoresNothingOnceANewerOneExists() {
        let ledger = RequestLedger()
        let stored = Stored()
        XCTAssertTrue(ledger.register(at(p0, 1), offset: 5))
        XCTAssertTrue(ledger.register(at(p0, 2), offset: 3))
        ledger.answered(at(p0, 1), offset: 5, store: stored.store)
        XCTAssertEqual(stored.all, [], "6 would be stored into epoch 2, which has 3 unanswered")
    }

    /// Issue 17 problem 3: waiting is woken by the answer, not by polling.
    func testDrainedResumesWhenTheLastRecordIsAnswered() async {
        let ledger = RequestLedger()
        XCTAssertTrue(ledger.register(at(p0), offset: 0))
        XCTAssertTrue(ledger.register(at(p1), offset: 0))
        await ledger.drained([at(p1, 7)])  // nothing of that assignment: at once
        let first = at(p0)
        let waiter = Task { await ledger.drained([first]) }
        ledger.answered(at(p1), offset: 0) { _ in }
        ledger.answered(at(p0), offset: 0) { _ in }
        await waiter.value
        XCTAssertEqual(ledger.unansweredCount(), 0)
        XCTAssertTrue(ledger.register(at(p0), offset: 1))
        let bounded = await ledger.drained(nil, within: .milliseconds(20), clock: ContinuousClock())
        XCTAssertFalse(bounded, "one unanswered: the bound ends the wait")
    }

    /// Issue 17 problem 2: replay is done when the answered prefix reaches the range end.
    func testAnsweredThroughWaitsForTheWholeRange() async {
        let ledger = RequestLedger()
        for offset in Int64(0)..<3 { XCTAssertTrue(ledger.register(at(p0), offset: offset)) }
        let p0 = p0
        let done = Task { await ledger.answered(through: [p0: 3]) }
        ledger.answered(at(p0), offset: 2) { _ in }
        ledger.answered(at(p0), offset: 0) { _ in }
        XCTAssertEqual(ledger.answeredThrough(p0), 1)
        ledger.answered(at(p0), offset: 1) { _ in }
        await done.value
        XCTAssertEqual(ledger.answeredThrough(p0), 3)
    }

    /// A fatal stop does not wait for drains: once the waiters are released, a drain (e.g. the
    /// revoke at close) returns at once, unanswered records or not.
    func testAfterReleaseWaitersNoDrainWaits() async {
        let ledger = RequestLedger()
        XCTAssertTrue(ledger.register(at(p0), offset: 0))
        let first = at(p0)
        let waiting = Task { await ledger.drained([first], within: .seconds(30), clock: ContinuousClock()) }
        ledger.releaseWaiters()
        let drained = await waiting.value
        XCTAssertFalse(drained)
        let started = ContinuousClock.now
        let later = await ledger.drained(nil, within: .seconds(30), clock: ContinuousClock())
        XCTAssertFalse(later)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
    }
}
