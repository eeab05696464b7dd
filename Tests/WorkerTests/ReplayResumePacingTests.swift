@testable import Worker
import XCTest

/// The resume pacing of a yielding replay: the rules without a clock, then the gate applying
/// them with real time (lower bounds only: a loaded machine makes waits longer, never shorter).
final class ReplayResumePacingTests: XCTestCase {
    func testAPauseLastsItsMinimum() throws {
        let pacing = try XCTUnwrap(ReplayResumePacing(minimumPause: .seconds(1), ramp: .zero))
        XCTAssertFalse(pacing.mayResume(pausedFor: .milliseconds(999)))
        XCTAssertTrue(pacing.mayResume(pausedFor: .seconds(1)))
        XCTAssertTrue(ReplayResumePacing.off.mayResume(pausedFor: .zero))
    }

    func testBatchesAfterAResumeAreSpacedLessAndLessThenNotAtAll() throws {
        let pacing = try XCTUnwrap(ReplayResumePacing(minimumPause: .zero, ramp: .seconds(2)))
        XCTAssertEqual(pacing.initialGap, .milliseconds(500))
        XCTAssertEqual(pacing.delay(sinceResume: .zero, sinceLastBatch: nil), .zero, "the first batch after a resume goes at once")
        XCTAssertEqual(pacing.delay(sinceResume: .zero, sinceLastBatch: .zero), .milliseconds(500))
        XCTAssertEqual(pacing.delay(sinceResume: .seconds(1), sinceLastBatch: .zero), .milliseconds(250), "halfway: half the gap")
        XCTAssertEqual(pacing.delay(sinceResume: .seconds(1), sinceLastBatch: .milliseconds(100)), .milliseconds(150),
                       "the time since the last batch counts towards the gap")
        XCTAssertEqual(pacing.delay(sinceResume: .seconds(1), sinceLastBatch: .milliseconds(400)), .zero)
        XCTAssertEqual(pacing.delay(sinceResume: .seconds(2), sinceLastBatch: .zero), .zero, "past the ramp nothing waits")
        XCTAssertEqual(pacing.delay(sinceResume: .seconds(60), sinceLastBatch: .zero), .zero)
        XCTAssertEqual(ReplayResumePacing.off.delay(sinceResume: .zero, sinceLastBatch: .zero), .zero)
    }

    func testNegativeDurationsAreRefused() {
        XCTAssertNil(ReplayResumePacing(minimumPause: .milliseconds(-1), ramp: .zero))
        XCTAssertNil(ReplayResumePacing(minimumPause: .zero, ramp: .milliseconds(-1)))
        var settings = LiveYield(group: "live", topics: ["in"])
        XCTAssertEqual(settings.pacing(), ReplayResumePacing(minimumPause: .seconds(1), ramp: .seconds(2)), "the documented defaults")
        settings.resumeRamp = .milliseconds(-5)
        XCTAssertNil(settings.pacing())
    }

    func testTheGateHoldsAPauseForItsMinimum() async throws {
        let gate = ReplayYieldGate(pacing: try XCTUnwrap(ReplayResumePacing(minimumPause: .milliseconds(300), ramp: .zero)))
        XCTAssertTrue(gate.mayResume(), "not paused")
        let closed = ContinuousClock.now
        gate.close(reason: "lag")
        XCTAssertFalse(gate.mayResume(now: closed + .milliseconds(100)))
        XCTAssertTrue(gate.mayResume(now: closed + .milliseconds(400)))
    }

    func testTheGateSpacesTheBatchesRightAfterAResumeOnly() async throws {
        let gate = ReplayYieldGate(pacing: try XCTUnwrap(ReplayResumePacing(minimumPause: .zero, ramp: .milliseconds(800))))
        // Never paused: no pacing at all.
        let unpaced = ContinuousClock.now
        for _ in 0..<5 { await gate.waitForBatch() }
        XCTAssertLessThan(ContinuousClock.now - unpaced, .milliseconds(150), "a replay that never paused is not paced")

        gate.close(reason: "lag")
        gate.open(reason: "caught up")
        let resumed = ContinuousClock.now
        await gate.waitForBatch()  // the first goes at once
        let first = ContinuousClock.now
        await gate.waitForBatch()  // then a gap of about a quarter of the ramp
        let second = ContinuousClock.now
        XCTAssertGreaterThanOrEqual(second - first, .milliseconds(150), "the second batch waited (gap 200 ms less the time since the resume)")
        // Until the ramp is over, batches come more and more often: in its first half (gaps
        // of 200, then about 150, 110 ms), at most 4 batches where back to back would take any number.
        var times = [first, second]
        while ContinuousClock.now - resumed < .milliseconds(800) {
            await gate.waitForBatch()
            times.append(ContinuousClock.now)
        }
        XCTAssertLessThanOrEqual(times.filter { $0 - resumed < .milliseconds(400) }.count, 4, "spaced in the ramp's first half")
        try await Task.sleep(for: .milliseconds(50))
        let after = ContinuousClock.now
        for _ in 0..<5 { await gate.waitForBatch() }
        XCTAssertLessThan(ContinuousClock.now - after, .milliseconds(150), "past the ramp batches go back to back")
    }

    func testAReleasedGateIsNotPaced() async throws {
        let gate = ReplayYieldGate(pacing: try XCTUnwrap(ReplayResumePacing(minimumPause: .zero, ramp: .seconds(10))))
        gate.close(reason: "lag")
        gate.open(reason: "caught up")
        await gate.waitForBatch()
        gate.release()
        let start = ContinuousClock.now
        for _ in 0..<5 { await gate.waitForBatch() }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2), "stopping: the replay finishes what it took without pacing")
    }
}
