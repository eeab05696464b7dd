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
        // DUOGUARD_SHELL_PLANT=1: the planted fault of the teeth test, to replay its finding.
        // DUOGUARD_SHELL_CHECK_CACHE=1: (h) in score-cache schedules too (see `Options`).
        let environment = ProcessInfo.processInfo.environment
        let options = ShellSimulation.Options(
            plantOldStopOrder: environment["DUOGUARD_SHELL_PLANT"] == "1",
            checkStopDuplicatesWithCache: environment["DUOGUARD_SHELL_CHECK_CACHE"] == "1")
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
        for seed in first..<(first + count) {
            let simulation = ShellSimulation(seed: seed, options: options)
            if let violation = simulation.run() {
                violations += 1
                if violations <= 3 { XCTFail("\(violation)") }
            }
            steps += simulation.step
            if simulation.stopFoundQueueFull { fullAtStop += 1 }
        }
        let elapsed = Date().timeIntervalSince(started)
        print(
            "shell simulation: \(count) schedules (seeds \(first)..<\(first + count)), \(steps) steps, \(violations) violations, "
                + "\(String(format: "%.1f", elapsed)) s, \(Int(Double(steps) / max(elapsed, 1e-9))) steps/s, "
                + "\(fullAtStop) stops found the batcher's queue full")
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

    /// Teeth: the stop order before bebd035 (hand the queue back, then close the batcher) put
    /// back; an intake blocked on the full queue slips its request in between, it is answered
    /// above a handed-back one, and the simulator must report the duplicate (h). The same seed
    /// with today's order must pass, so it is the fault that is found.
    func testFindsTheOldStopOrderDuplicate() throws {
        try XCTSkipIf(ShellSimulation.tokenizer == nil, "run scripts/prepare-tokenizers.sh")
        var found: (ShellSimulation.Violation, UInt64)?
        for seed in UInt64(1)...UInt64(Self.teethBudget) {
            // Without the score cache: its hits may duplicate at a stop anyway (see `Options`).
            if let violation = ShellSimulation(seed: seed, options: .init(plantOldStopOrder: true, scoreCache: false)).run() {
                found = (violation, seed)
                break
            }
        }
        let (violation, seed) = try XCTUnwrap(found, "the shell simulator must find the old stop order's duplicate")
        print("teeth old stop order: found after \(seed) schedules at step \(violation.step)\n\(violation)")
        XCTAssertEqual(violation.rule, "h")
        XCTAssertNil(ShellSimulation(seed: seed, options: .init(scoreCache: false)).run(), "today's stop order passes the same schedule")
    }
}

