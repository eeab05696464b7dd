import Worker
import XCTest

/// The batcher's adaptive wait for company (issue 23): the rule on its own (no clocks), then
/// the batcher that uses it in the odd cases — an idle worker, a burst, callers mixed in, a
/// close while a batch waits.
final class CompanyWaitTests: XCTestCase {
    private let start = ContinuousClock.now

    private func arrivals(_ rule: inout CompanyWait, everyMilliseconds gaps: [Int]) {
        var at = start
        rule.noteArrival(at: at)
        for gap in gaps {
            at += .milliseconds(gap)
            rule.noteArrival(at: at)
        }
    }

    func testFixedRuleAlwaysWaitsMaxWait() {
        var rule = CompanyWait(maxWait: .milliseconds(20), adaptive: false)
        XCTAssertEqual(rule.wait, .milliseconds(20), "no history")
        arrivals(&rule, everyMilliseconds: Array(repeating: 1_000, count: 10))
        XCTAssertEqual(rule.wait, .milliseconds(20), "sparse arrivals: still the fixed wait")
    }

    func testAdaptiveRuleStartsAtOnceWithoutHistoryOrWithSparseArrivals() {
        var rule = CompanyWait(maxWait: .milliseconds(20), adaptive: true)
        XCTAssertEqual(rule.wait, .zero, "no history: treated as sparse")
        rule.noteArrival(at: start)
        XCTAssertNil(rule.meanGapSeconds, "one arrival is no gap yet")
        XCTAssertEqual(rule.wait, .zero)
        // Issue 23's 75% level: 3.5 requests/s, a mean gap of ~290 ms.
        arrivals(&rule, everyMilliseconds: Array(repeating: 290, count: 20))
        // (The first gap is 0: `arrivals` starts at the instant of the lone arrival above.)
        XCTAssertEqual(try XCTUnwrap(rule.meanGapSeconds), 0.29 * (1 - pow(1 - CompanyWait.weight, 20)), accuracy: 0.001)
        XCTAssertEqual(rule.wait, .zero, "a 20 ms wait would find company 7% of the time")
    }

    func testAdaptiveRuleWaitsWhenArrivalsAreDense() {
        var rule = CompanyWait(maxWait: .milliseconds(20), adaptive: true)
        arrivals(&rule, everyMilliseconds: Array(repeating: 5, count: 30))
        XCTAssertEqual(rule.wait, .milliseconds(20), "200 requests/s: company is expected within the wait")
    }

    func testABurstThenQuietTracksTheRateNotTheBurst() {
        var rule = CompanyWait(maxWait: .milliseconds(20), adaptive: true)
        // Records delivered by fetches of four at once, 400 ms apart: 10 requests/s.
        var gaps: [Int] = []
        for _ in 0..<10 { gaps += [0, 0, 0, 400] }
        arrivals(&rule, everyMilliseconds: gaps)
        XCTAssertGreaterThan(try XCTUnwrap(rule.meanGapSeconds), 0.02, "the mean gap is not the burst's zero gaps")
        XCTAssertEqual(rule.wait, .zero)
    }

    func testTheMeanFollowsARateChange() {
        var rule = CompanyWait(maxWait: .milliseconds(20), adaptive: true)
        arrivals(&rule, everyMilliseconds: Array(repeating: 500, count: 10))
        XCTAssertEqual(rule.wait, .zero)
        var at = start + .seconds(5)
        for _ in 0..<40 {
            at += .milliseconds(2)
            rule.noteArrival(at: at)
        }
        XCTAssertEqual(rule.wait, .milliseconds(20), "after ~40 dense arrivals the long gaps have faded out")
    }

    func testZeroMaxWaitNeverWaits() {
        var rule = CompanyWait(maxWait: .zero, adaptive: true)
        arrivals(&rule, everyMilliseconds: Array(repeating: 0, count: 5))
        XCTAssertEqual(rule.wait, .zero)
    }

    // MARK: the batcher with the adaptive rule (real time, generous bounds)

    private func batcher(maxWait: Duration = .seconds(3), maxItems: Int = 8) -> MicroBatcher<String> {
        MicroBatcher<String>(limits: .init(tokenBudget: 1_000, maxItems: maxItems, maxWait: maxWait, capacity: 100, adaptiveWait: true))
    }

    func testALoneRequestOnAnIdleWorkerStartsAtOnce() async {
        let batcher = batcher()
        _ = await batcher.enqueue("a", tokens: 50)
        let started = ContinuousClock.now
        let batch = await batcher.nextBatch()
        XCTAssertEqual(batch, ["a"])
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1), "no 3 s wait for company that is not coming")
    }

    func testAnIdleBatcherStartsTheFirstArrivalAtOnce() async throws {
        let batcher = batcher()
        let taken = Task { () -> (batch: [String]?, at: ContinuousClock.Instant) in (await batcher.nextBatch(), .now) }
        try await Task.sleep(for: .milliseconds(100))
        let sent = ContinuousClock.now
        _ = await batcher.enqueue("a", tokens: 50)
        let (batch, at) = await taken.value
        XCTAssertEqual(batch, ["a"])
        XCTAssertLessThan(at - sent, .seconds(1), "the model was idle: the request starts when it arrives")
    }

    func testDenseArrivalsStillWaitForCompany() async throws {
        let batcher = batcher(maxWait: .seconds(2))
        for i in 0..<6 { _ = await batcher.enqueue("burst\(i)", tokens: 10) }
        let burst = await batcher.nextBatch()
        XCTAssertEqual(burst?.count, 6, "a burst is taken at once (queued before the batch was asked for)")
        _ = await batcher.enqueue("a", tokens: 10)
        let second = Task {
            try await Task.sleep(for: .milliseconds(150))
            _ = await batcher.enqueue("b", tokens: 10)
        }
        let batch = await batcher.nextBatch()
        XCTAssertEqual(batch, ["a", "b"], "arrivals were dense: the first request waited for company")
        try await second.value
    }

    func testABurstFillsBatchesWithoutWaiting() async {
        let batcher = batcher(maxWait: .seconds(5), maxItems: 4)
        for i in 0..<10 { _ = await batcher.enqueue("s\(i)", tokens: 10) }
        let started = ContinuousClock.now
        let first = await batcher.nextBatch()
        let second = await batcher.nextBatch()
        XCTAssertEqual(first, ["s0", "s1", "s2", "s3"])
        XCTAssertEqual(second, ["s4", "s5", "s6", "s7"])
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1), "full batches never wait")
    }

    func testACallerOnAnIdleWorkerStartsAtOnceAndStaysFirst() async {
        let batcher = batcher()
        XCTAssertTrue(batcher.enqueueUrgent("call", tokens: 20))
        let started = ContinuousClock.now
        let alone = await batcher.nextBatch()
        XCTAssertEqual(alone, ["call"])
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1), "a caller on an idle worker waits for nothing")
        for i in 0..<3 { _ = await batcher.enqueue("s\(i)", tokens: 20) }
        XCTAssertTrue(batcher.enqueueUrgent("call2", tokens: 20))
        let callers = await batcher.nextBatch()
        XCTAssertEqual(callers, ["call2"], "the urgent lane still goes first, without stream fill by default")
        let stream = await batcher.nextBatch()
        XCTAssertEqual(stream, ["s0", "s1", "s2"])
    }

    func testCloseWhileWaitingForCompanyReturnsTheBatch() async throws {
        let batcher = batcher(maxWait: .seconds(30))
        for i in 0..<4 { _ = await batcher.enqueue("burst\(i)", tokens: 10) }
        _ = await batcher.nextBatch()
        _ = await batcher.enqueue("a", tokens: 10)
        let started = ContinuousClock.now
        let waiting = Task { await batcher.nextBatch() }
        try await Task.sleep(for: .milliseconds(200))
        batcher.close()
        let batch = await waiting.value
        XCTAssertEqual(batch, ["a"], "closing drains without waiting out maxWait")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10))
        let end = await batcher.nextBatch()
        XCTAssertNil(end)
    }
}
