import Foundation
import Inference
import XCTest

/// The fork-join pool under many short jobs (what a forward pass does ~250 times per batch):
/// every task runs exactly once, jobs never overlap, with the spin-then-sleep handoff and with
/// sleeping only. A hang fails the test after a bounded wait instead of stalling the suite.
final class ThreadPoolTests: XCTestCase {
    private func stress(threads: Int, spin: Int, jobs: Int) {
        let done = DispatchSemaphore(value: 0)
        let failures = Counter()
        let worker = Thread {
            let pool = ThreadPool(threadCount: threads, spinIterations: spin)
            var rng = UInt64(threads * 1_000 + spin)
            for job in 0 ..< jobs {
                rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let count = Int(rng >> 60) + 1 // 1...16 tasks
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
                hits.initialize(repeating: 0, count: count)
                pool.parallelFor(count) { i in hits[i] += 1 } // distinct i: no two threads share a slot
                for i in 0 ..< count where hits[i] != 1 { failures.add("job \(job) task \(i) ran \(hits[i]) times") }
                hits.deallocate()
                if job % 97 == 0 { usleep(200) } // let the workers fall asleep now and then
            }
            done.signal()
        }
        worker.start()
        if done.wait(timeout: .now() + 120) == .timedOut {
            XCTFail("\(threads) threads, spin \(spin): \(jobs) jobs did not finish within 120 s (hang)")
            return
        }
        XCTAssertEqual(failures.messages, [], "\(threads) threads, spin \(spin)")
    }

    func testEveryTaskRunsOnceWithSpinning() { stress(threads: 2, spin: 50_000, jobs: 20_000) }
    func testEveryTaskRunsOnceSleepingOnly() { stress(threads: 2, spin: 0, jobs: 5_000) }
    func testMoreThreadsThanCores() { stress(threads: 3, spin: 1_000, jobs: 5_000) }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var messages: [String] = []
        func add(_ m: String) { lock.lock(); if messages.count < 5 { messages.append(m) }; lock.unlock() }
    }
}
