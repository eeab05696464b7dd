import Foundation
import XCTest

@testable import Worker

/// The worker's real async shell under seeded schedules (`ShellSimulation`), and its teeth:
/// the duplicate-after-stop race of bebd035, put back, is found within the CI budget.
///
/// Long run: `DUOGUARD_SHELL_SCHEDULES=100000 DUOGUARD_SHELL_FIRST_SEED=1 swift test --skip-build
/// --filter ShellSimulationTests.testShellSchedules` (scripts/simulate.sh shell). One seed, with
/// its trace: `DUOGUARD_SHELL_SEED=<seed>`.
final class ShellSimulationTests: XCTestCase {
    /// Schedules per CI run (each builds the whole shell and runs a few hundred steps of it).
    static let ciSchedules = 10_000
    /// Teeth: the planted fault must be found within this many schedules.
    static let teethBudget = 2_000

    private static func environment(_ name: String) -> UInt64? { WorkerSimulationTests.environment(name) }

    func testShellSchedules() throws {
        try XCTSkipIf(ShellSimulation.tokenizer == nil, "run scripts/prepare-tokenizers.sh")
        // DUOGUARD_SHELL_PLANT=stop-order (or 1) / hand-back: the planted fault of a teeth
        // test, with its cache setting, to replay its finding.
        let environment = ProcessInfo.processInfo.environment
        var options = ShellSimulation.Options()
        switch environment["DUOGUARD_SHELL_PLANT"] {
        case "1", "stop-order": options = Self.oldStopOrder
        case "hand-back": options = Self.oldHandBack
        default: break
        }
        if let seed = Self.environment("DUOGUARD_SHELL_SEED") {
            let simulation = ShellSimulation(seed: seed, options: options)
            let violation = simulation.run()
            print(simulation.trace.joined(separator: "\n"))
            XCTAssertNil(violation, violation.map { "\($0)" } ?? "")
            return
        }
        let count = Self.environment("DUOGUARD_SHELL_SCHEDULES") ?? UInt64(Self.ciSchedules)
        let first = Self.environment("DUOGUARD_SHELL_FIRST_SEED") ?? 1
        let started = Date()
        var steps = 0
        var violations = 0
        var fullAtStop = 0
        var failures = 0
        var deadLetters = 0
        for seed in first..<(first + count) {
            let simulation = ShellSimulation(seed: seed, options: options)
            if let violation = simulation.run() {
                violations += 1
                if violations <= 3 { XCTFail("\(violation)") }
            }
            steps += simulation.step
            if simulation.stopFoundQueueFull { fullAtStop += 1 }
            failures += simulation.deliveryFailures
            deadLetters += simulation.deadLettersDelivered
        }
        let elapsed = Date().timeIntervalSince(started)
        print(
            "shell simulation: \(count) schedules (seeds \(first)..<\(first + count)), \(steps) steps, \(violations) violations, "
                + "\(String(format: "%.1f", elapsed)) s, \(Int(Double(steps) / max(elapsed, 1e-9))) steps/s, "
                + "\(fullAtStop) stops found the batcher's queue full, \(failures) deliveries failed (retried), "
                + "\(deadLetters) dead letters of poison records delivered")
        XCTAssertGreaterThan(failures, 0, "the schedules must draw delivery failures")
        XCTAssertGreaterThan(deadLetters, 0, "the schedules must carry poison records")
        XCTAssertEqual(violations, 0)
    }

    /// A seed replays exactly: the same steps, trace and outcome (the executor runs the job
    /// the seed picks, the clock moves only when the seed says).
    func testAShellSeedReplaysExactly() throws {
        try XCTSkipIf(ShellSimulation.tokenizer == nil, "run scripts/prepare-tokenizers.sh")
        for seed: UInt64 in [3, 77, 1234] {
            let first = ShellSimulation(seed: seed)
            let second = ShellSimulation(seed: seed)
            let a = first.run().map { "\($0)" }
            let b = second.run().map { "\($0)" }
            XCTAssertEqual(first.step, second.step)
            XCTAssertEqual(first.trace, second.trace)
            XCTAssertEqual(a, b)
        }
    }

    /// Teeth: the stop path before bebd035 (hand the whole queue back, then close the batcher)
    /// put back; an intake blocked on the full queue slips its request in between, it is
    /// answered above a handed-back one, and the simulator must report the duplicate (h).
    /// Without the score cache, so it is the stop order that is found, not a cache hit. (Both
    /// plants: today's hand-back rule alone also keeps the requests below the slipped-in one.)
    /// The same seed with today's stop must pass, so it is the fault that is found.
    func testFindsTheOldStopOrderDuplicate() throws {
        try findPlanted("old stop order", Self.oldStopOrder, fixed: .init(scoreCache: false))
    }

    /// Teeth: the hand-back rule before the cache-hit fix (every queued request handed back at
    /// a stop, even one below a score-cache hit answered at intake) put back; the hit is
    /// answered above the handed-back request, and the simulator must report the duplicate
    /// (h) — the bug it found in the last round at seeds 1301 and 11017. With today's stop
    /// order and the cache on; the same seed with today's rule must pass.
    func testFindsTheCacheHitDuplicateAtAStop() throws {
        try findPlanted("cache hit at a stop", Self.oldHandBack, fixed: .init(scoreCache: true))
    }

    /// The stop path before bebd035, without the score cache.
    static let oldStopOrder = ShellSimulation.Options(plantOldStopOrder: true, plantHandBackBelowAnswers: true, scoreCache: false)
    /// The hand-back rule before the cache-hit fix, with the score cache.
    static let oldHandBack = ShellSimulation.Options(plantHandBackBelowAnswers: true, scoreCache: true)

    private func findPlanted(_ name: String, _ planted: ShellSimulation.Options, fixed: ShellSimulation.Options) throws {
        try XCTSkipIf(ShellSimulation.tokenizer == nil, "run scripts/prepare-tokenizers.sh")
        var found: (ShellSimulation.Violation, UInt64)?
        for seed in UInt64(1)...UInt64(Self.teethBudget) {
            if let violation = ShellSimulation(seed: seed, options: planted).run() {
                found = (violation, seed)
                break
            }
        }
        let (violation, seed) = try XCTUnwrap(found, "the shell simulator must find the planted fault (\(name))")
        print("teeth \(name): found after \(seed) schedules at step \(violation.step)\n\(violation)")
        XCTAssertEqual(violation.rule, "h")
        XCTAssertNil(ShellSimulation(seed: seed, options: fixed).run(), "today's stop passes the same schedule")
    }
}

