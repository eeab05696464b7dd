import Worker
import XCTest

/// The urgent lane: synchronous callers' requests go into the next batch ahead of a stream
/// backlog, stream requests fill the rest, and neither class is reordered within itself.
final class MicroBatcherPriorityTests: XCTestCase {
    /// Stream requests may fill a caller's batch up to the whole budget here (the default fill
    /// is 0: see ``testByDefaultACallersBatchCarriesNoStreamRequests``).
    private func batcher(budget: Int = 100, maxItems: Int = 8, capacity: Int = 100) -> MicroBatcher<String> {
        MicroBatcher<String>(
            limits: .init(tokenBudget: budget, maxItems: maxItems, maxWait: .milliseconds(50), capacity: capacity, urgentFillTokens: budget))
    }

    func testByDefaultACallersBatchCarriesNoStreamRequests() async {
        let batcher = MicroBatcher<String>(limits: .init(tokenBudget: 100, maxItems: 8, maxWait: .zero, capacity: 100))
        XCTAssertEqual(batcher.limits.urgentFillTokens, 0)
        for i in 0..<10 {
            _ = await batcher.enqueue("s\(i)", tokens: 20)
        }
        XCTAssertTrue(batcher.enqueueUrgent("u0", tokens: 30))
        XCTAssertTrue(batcher.enqueueUrgent("u1", tokens: 30))
        let callers = await batcher.nextBatch()
        XCTAssertEqual(callers, ["u0", "u1"], "the callers' batch costs what it costs on an idle worker")
        let stream = await batcher.nextBatch()
        XCTAssertEqual(stream, ["s0", "s1", "s2", "s3", "s4"], "then the stream, in order, with its whole budget")
    }

    func testUrgentRequestsGoAheadOfAStreamBacklogAndStreamFillsTheRest() async {
        let batcher = batcher()
        for i in 0..<10 {
            _ = await batcher.enqueue("s\(i)", tokens: 20)
        }
        XCTAssertTrue(batcher.enqueueUrgent("u0", tokens: 30))
        XCTAssertTrue(batcher.enqueueUrgent("u1", tokens: 30))
        let first = await batcher.nextBatch()
        XCTAssertEqual(first, ["u0", "u1", "s0", "s1"], "urgent first (60 tokens), stream fills to the 100-token budget")
        let second = await batcher.nextBatch()
        XCTAssertEqual(second, ["s2", "s3", "s4", "s5", "s6"], "the stream keeps its order")
        XCTAssertEqual(batcher.urgentCount, 0)
    }

    func testStreamFillsABatchWithUrgentRequestsOnlyUpToTheFillBudget() async {
        let batcher = MicroBatcher<String>(
            limits: .init(tokenBudget: 1_000, maxItems: 50, maxWait: .zero, capacity: 100, urgentFillTokens: 60))
        for i in 0..<10 {
            _ = await batcher.enqueue("s\(i)", tokens: 20)
        }
        XCTAssertTrue(batcher.enqueueUrgent("u0", tokens: 30))
        let withCaller = await batcher.nextBatch()
        XCTAssertEqual(withCaller, ["u0", "s0"], "30 + 20 tokens; a second stream request would pass the 60-token fill")
        let streamOnly = await batcher.nextBatch()
        XCTAssertEqual(streamOnly?.count, 9, "without a caller the stream uses the whole budget")
    }

    func testUrgentRequestArrivingDuringABatchIsInTheNextOne() async {
        let batcher = batcher(budget: 40)
        for i in 0..<6 {
            _ = await batcher.enqueue("s\(i)", tokens: 20)
        }
        let running = await batcher.nextBatch()
        XCTAssertEqual(running, ["s0", "s1"])
        // Arrives while `running` is in the model, behind four queued stream requests.
        XCTAssertTrue(batcher.enqueueUrgent("u", tokens: 10))
        let next = await batcher.nextBatch()
        XCTAssertEqual(next, ["u", "s2"], "the caller waits for the running batch only")
    }

    func testUrgentOverflowStaysFirstAndTakesNoStreamCompany() async {
        let batcher = batcher(budget: 50)
        _ = await batcher.enqueue("s0", tokens: 5)
        XCTAssertTrue(batcher.enqueueUrgent("u0", tokens: 30))
        XCTAssertTrue(batcher.enqueueUrgent("u1", tokens: 30))
        let first = await batcher.nextBatch()
        XCTAssertEqual(first, ["u0"], "u1 does not fit: it stays first, and s0 must not pass it")
        let second = await batcher.nextBatch()
        XCTAssertEqual(second, ["u1", "s0"])
    }

    func testItemLimitCountsBothClasses() async {
        let batcher = batcher(maxItems: 3)
        for i in 0..<3 {
            _ = await batcher.enqueue("s\(i)", tokens: 1)
        }
        for i in 0..<2 {
            XCTAssertTrue(batcher.enqueueUrgent("u\(i)", tokens: 1))
        }
        let batch = await batcher.nextBatch()
        XCTAssertEqual(batch, ["u0", "u1", "s0"])
    }

    func testUrgentEnqueueWakesAnIdleBatcherAndIgnoresTheStreamCapacity() async throws {
        let batcher = batcher(capacity: 1)
        let waiting = Task { await batcher.nextBatch() }
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertTrue(batcher.enqueueUrgent("u", tokens: 1))
        let batch = await waiting.value
        XCTAssertEqual(batch, ["u"])
        _ = await batcher.enqueue("s0", tokens: 1)
        // The stream queue is full (capacity 1); the urgent lane does not wait for it.
        XCTAssertTrue(batcher.enqueueUrgent("u2", tokens: 1))
        XCTAssertEqual(batcher.count, 2)
    }

    func testHandingBackTheStreamLeavesUrgentRequests() async {
        let batcher = batcher()
        _ = await batcher.enqueue("s0", tokens: 1)
        XCTAssertTrue(batcher.enqueueUrgent("u0", tokens: 1))
        let removed = batcher.removeAll { _ in true }
        XCTAssertEqual(removed, ["s0"])
        XCTAssertEqual(batcher.urgentCount, 1)
    }

    func testClosedBatcherRefusesUrgentAndDrainsQueuedOnes() async {
        let batcher = batcher()
        XCTAssertTrue(batcher.enqueueUrgent("u0", tokens: 1))
        batcher.close()
        XCTAssertFalse(batcher.enqueueUrgent("u1", tokens: 1))
        let drained = await batcher.nextBatch()
        XCTAssertEqual(drained, ["u0"], "an admitted caller is still answered")
        let end = await batcher.nextBatch()
        XCTAssertNil(end)
    }
}
