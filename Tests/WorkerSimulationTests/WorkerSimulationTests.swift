import Foundation
import XCTest

@testable import Worker

/// The worker core under seeded schedules (see `WorkerSimulation`), and the proof that the
/// simulator has teeth: each known bug put back is found within the CI budget.
///
/// Long run: `DUOGUARD_SIM_SCHEDULES=1000000 DUOGUARD_SIM_FIRST_SEED=1 swift test --skip-build
/// --filter WorkerSimulationTests.testSchedules` (scripts/simulate.sh). One seed, with its trace:
/// `DUOGUARD_SIM_SEED=<seed>`.
final class WorkerSimulationTests: XCTestCase {
    /// Schedules per CI run (issue 17: at least 20,000, under 2 minutes).
    static let ciSchedules = 20_000
    /// Teeth: a planted fault must be found within this many schedules.
    static let teethBudget = 20_000

    static func environment(_ name: String) -> UInt64? {
        ProcessInfo.processInfo.environment[name].flatMap { UInt64($0) }
    }

    func testSchedules() {
        if let seed = Self.environment("DUOGUARD_SIM_SEED") {
            let violation = WorkerSimulation(seed: seed).run()
            XCTAssertNil(violation, violation.map { "\($0)" } ?? "")
            return
        }
        let count = Self.environment("DUOGUARD_SIM_SCHEDULES") ?? UInt64(Self.ciSchedules)
        let first = Self.environment("DUOGUARD_SIM_FIRST_SEED") ?? 1
        let started = Date()
        var steps = 0
        var violations = 0
        var quiet = 0
        for seed in first..<(first + count) {
            let simulation = WorkerSimulation(seed: seed)
            if let violation = simulation.run() {
                violations += 1
                if violations <= 3 { XCTFail("\(violation)") }
            }
            steps += simulation.step
            quiet = max(quiet, simulation.quietStepsUsed)
        }
        let elapsed = Date().timeIntervalSince(started)
        print(
            "simulation: \(count) schedules (seeds \(first)..<\(first + count)), \(steps) steps, \(violations) violations, "
                + "\(String(format: "%.1f", elapsed)) s, \(Int(Double(steps) / max(elapsed, 1e-9))) steps/s, "
                + "at most \(quiet) steps from the end of faults to every partition at its end")
        XCTAssertEqual(violations, 0)
    }

    /// A seed replays exactly: the same steps and the same outcome.
    func testASeedReplaysExactly() {
        for seed: UInt64 in [3, 77, 1234] {
            let first = WorkerSimulation(seed: seed)
            let second = WorkerSimulation(seed: seed)
            let a = first.run().map { "\($0)" }
            let b = second.run().map { "\($0)" }
            XCTAssertEqual(first.step, second.step)
            XCTAssertEqual(a, b)
        }
    }

    /// The first seed (of `teethBudget`) whose schedule the simulator reports under `options`.
    private func firstFailure(_ options: WorkerSimulation.Options, rules: Set<String>) -> (WorkerSimulation.Violation, Int)? {
        for seed in UInt64(1)...UInt64(Self.teethBudget) {
            let simulation = WorkerSimulation(seed: seed, options: options)
            if let violation = simulation.run(), rules.contains(violation.rule) {
                return (violation, Int(seed))
            }
        }
        return nil
    }

    /// Teeth 1: 0720409's race put back (the position stored after the ledger's lock is
    /// released, so a drain can see "nothing unanswered" and commit before the store).
    func testFindsTheStoreAfterUnlockRace() throws {
        let found = firstFailure(WorkerSimulation.Options(ledgerFaults: .storeAfterUnlock), rules: ["d", "g"])
        let (violation, schedules) = try XCTUnwrap(found, "the simulator must find the store-after-unlock race")
        print("teeth store-after-unlock: found after \(schedules) schedules at step \(violation.step)\n\(violation)")
    }

    /// Teeth 2 (issue 17 problem 1 reproduced): cleanups that name partitions, not epochs, let a
    /// revoke outlasting its acknowledgement wipe the partition's next assignment: it stalls.
    func testFindsALateRevokeCleanupWipingTheNextAssignment() throws {
        let found = firstFailure(WorkerSimulation.Options(ledgerFaults: .epochBlindCleanup), rules: ["c"])
        let (violation, schedules) = try XCTUnwrap(found, "the simulator must find the epoch-blind cleanup")
        print("teeth epoch-blind cleanup: found after \(schedules) schedules at step \(violation.step)\n\(violation)")
    }

    /// Found by the simulator (seed 5750 of the first CI run): a late answer of an old
    /// assignment stored its position into the partition's next assignment, moving its commit
    /// back (duplicates) and, in the simulator, leaving it short of its end. Put back, it is found.
    func testFindsAnOldAssignmentStoringIntoTheNextOne() throws {
        let found = firstFailure(WorkerSimulation.Options(storeIntoAnyAssignment: true), rules: ["c"])
        let (violation, schedules) = try XCTUnwrap(found, "the simulator must find the store into a newer assignment")
        print("store into a newer assignment: found after \(schedules) schedules at step \(violation.step)")
    }

    /// Issue 17 problem 2 reproduced: "done" when every range is decided and nothing is pending
    /// misses a record intake holds between reading and registering.
    func testFindsReplayDoneBeforeItIs() throws {
        let found = firstFailure(WorkerSimulation.Options(legacyReplayDone: true), rules: ["f"])
        let (violation, schedules) = try XCTUnwrap(found, "the simulator must find the early replay done")
        print("problem 2 (replay done early): found after \(schedules) schedules at step \(violation.step)\n\(violation)")
    }
}
