import Worker
import XCTest

final class MicroBatcherTests: XCTestCase {
    func testBatchClosesAtTokenBudgetAndItemLimit() async {
        let batcher = MicroBatcher<Int>(limits: .init(tokenBudget: 100, maxItems: 3, maxWait: .seconds(5), capacity: 100))
        for (i, tokens) in [40, 40, 40, 10, 10, 10, 10].enumerated() {
            let added = await batcher.enqueue(i, tokens: tokens)
            XCTAssertTrue(added)
        }
        let first = await batcher.nextBatch()
        XCTAssertEqual(first, [0, 1], "a third 40-token request would exceed the 100-token budget")
        let second = await batcher.nextBatch()
        XCTAssertEqual(second, [2, 3, 4], "three requests is the item limit")
    }

    func testOversizedRequestRunsAlone() async {
        let batcher = MicroBatcher<Int>(limits: .init(tokenBudget: 100, maxItems: 8, maxWait: .seconds(5), capacity: 10))
        _ = await batcher.enqueue(1, tokens: 500)
        _ = await batcher.enqueue(2, tokens: 5)
        let batch = await batcher.nextBatch()
        XCTAssertEqual(batch, [1])
    }

    func testPartialBatchWaitsAtMostMaxWait() async {
        let batcher = MicroBatcher<Int>(limits: .init(tokenBudget: 1000, maxItems: 8, maxWait: .milliseconds(200), capacity: 10))
        _ = await batcher.enqueue(7, tokens: 5)
        let start = ContinuousClock.now
        let batch = await batcher.nextBatch()
        let waited = ContinuousClock.now - start
        XCTAssertEqual(batch, [7])
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(150))
        XCTAssertLessThan(waited, .seconds(2))
    }

    func testFullQueueSuspendsEnqueueUntilABatchIsTaken() async throws {
        let batcher = MicroBatcher<Int>(limits: .init(tokenBudget: 10, maxItems: 2, maxWait: .zero, capacity: 2))
        _ = await batcher.enqueue(0, tokens: 1)
        _ = await batcher.enqueue(1, tokens: 1)
        let third = Task { await batcher.enqueue(2, tokens: 1) }
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertEqual(batcher.count, 2, "the third request waits for space")
        let batch = await batcher.nextBatch()
        XCTAssertEqual(batch, [0, 1])
        let added = await third.value
        XCTAssertTrue(added)
        XCTAssertEqual(batcher.count, 1)
    }

    func testCloseDrainsThenEnds() async {
        let batcher = MicroBatcher<Int>(limits: .init(tokenBudget: 10, maxItems: 10, maxWait: .seconds(10), capacity: 10))
        _ = await batcher.enqueue(0, tokens: 1)
        batcher.close()
        let added = await batcher.enqueue(1, tokens: 1)
        XCTAssertFalse(added)
        let drained = await batcher.nextBatch()
        XCTAssertEqual(drained, [0], "closing does not wait out maxWait")
        let end = await batcher.nextBatch()
        XCTAssertNil(end)
    }

    func testRemoveAllTakesQueuedItemsOut() async {
        let batcher = MicroBatcher<Int>(limits: .init(tokenBudget: 100, maxItems: 10, maxWait: .zero, capacity: 10))
        for i in 0..<6 { _ = await batcher.enqueue(i, tokens: 1) }
        let removed = batcher.removeAll { $0 % 2 == 0 }
        XCTAssertEqual(removed, [0, 2, 4])
        let batch = await batcher.nextBatch()
        XCTAssertEqual(batch, [1, 3, 5])
    }
}
