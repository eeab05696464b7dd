import Foundation
import Synchronization

/// A fixed set of persistent worker threads running fork-join loops.
///
/// Matrix multiplies run hundreds of times per batch, so threads are created once and
/// parked between jobs rather than spawned per call. The calling thread takes part in every
/// job, so a pool of `threadCount` uses `threadCount - 1` extra threads and a pool of 1 runs
/// everything inline.
///
/// A forward pass is ~250 short jobs (one per matrix multiply, norm, attention step). Waking
/// a parked thread through the condition variable costs tens of microseconds (more in a VM),
/// at every job and again at every join, so between jobs the threads first spin for a short
/// bounded time (`spinIterations`, ~50 µs) watching an atomic job counter, and only then
/// sleep on the condition; the caller likewise spins briefly before sleeping at the join.
/// Idle pools therefore sleep, and a busy machine loses at most that spin per job.
///
/// `parallelFor` must be called from one thread at a time (the model's `classify` contract).
public final class ThreadPool: @unchecked Sendable {
    /// Threads working on each job, the caller included.
    public let threadCount: Int
    private let state: State

    /// Shared between the pool and its threads, so the threads never keep the pool alive.
    /// Job fields are read and written under `condition`'s lock; `generation` and `finished`
    /// are also read without it, for spinning.
    private final class State: @unchecked Sendable {
        let condition = NSCondition()
        var job: ((Int) -> Void)?
        var taskCount = 0
        var nextTask = 0
        /// Tasks of the current job that have returned.
        let finished = Atomic<Int>(0)
        /// Bumped for every job and at shutdown.
        let generation = Atomic<Int>(0)
        var shuttingDown = false
        /// Threads (workers, or the caller at a join) waiting on the condition.
        var sleepers = 0
        let spinIterations: Int

        init(spinIterations: Int) { self.spinIterations = spinIterations }

        /// Takes the next task index, or nil; called with the lock held.
        func claim() -> Int? {
            guard job != nil, nextTask < taskCount else { return nil }
            defer { nextTask += 1 }
            return nextTask
        }

        /// Marks one task done; called with the lock held. Wakes sleepers at the job's end.
        func taskDone() {
            let done = finished.add(1, ordering: .releasing).newValue
            if done == taskCount, sleepers > 0 { condition.broadcast() }
        }

        /// Spins (lock not held) until `done()` or the spin budget runs out.
        func spin(until done: () -> Bool) {
            var i = 0
            while i < spinIterations, !done() { i += 1 }
        }

        func workerLoop() {
            condition.lock()
            while true {
                if shuttingDown { break }
                if let task = claim(), let body = job {
                    condition.unlock()
                    body(task)
                    condition.lock()
                    taskDone()
                    continue
                }
                // Nothing to do: spin a little for the next job, then sleep.
                let seen = generation.load(ordering: .acquiring)
                condition.unlock()
                spin { generation.load(ordering: .acquiring) != seen }
                condition.lock()
                if generation.load(ordering: .acquiring) == seen, !shuttingDown {
                    sleepers += 1
                    condition.wait()
                    sleepers -= 1
                }
            }
            condition.unlock()
        }
    }

    /// - Parameters:
    ///   - threadCount: threads per job including the caller; `nil` = all active cores.
    ///   - spinIterations: how long an idle thread polls for the next job before sleeping
    ///     (atomic loads, ~1 ns each); 0 sleeps at once.
    public init(threadCount: Int? = nil, spinIterations: Int = 50_000) {
        let count = max(1, threadCount ?? ProcessInfo.processInfo.activeProcessorCount)
        self.threadCount = count
        state = State(spinIterations: max(0, spinIterations))
        for i in 1 ..< count {
            let state = self.state
            let thread = Thread { state.workerLoop() }
            thread.name = "duoguard-inference-\(i)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit {
        state.condition.lock()
        state.shuttingDown = true
        state.generation.add(1, ordering: .releasing)
        state.condition.broadcast()
        state.condition.unlock()
    }

    /// Runs `body(i)` for every `i` in `0 ..< count` across the pool and returns when all are done.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        if threadCount == 1 || count == 1 {
            for i in 0 ..< count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let s = state
            s.condition.lock()
            s.job = body
            s.taskCount = count
            s.nextTask = 0
            s.finished.store(0, ordering: .relaxed)
            s.generation.add(1, ordering: .releasing)
            if s.sleepers > 0 { s.condition.broadcast() }
            while let task = s.claim() {
                s.condition.unlock()
                body(task)
                s.condition.lock()
                s.taskDone()
            }
            // Join: spin briefly for the other threads' last tasks, then sleep.
            while s.finished.load(ordering: .acquiring) < count {
                s.condition.unlock()
                s.spin { s.finished.load(ordering: .acquiring) >= count }
                s.condition.lock()
                if s.finished.load(ordering: .acquiring) < count {
                    s.sleepers += 1
                    s.condition.wait()
                    s.sleepers -= 1
                }
            }
            s.job = nil
            s.condition.unlock()
        }
    }
}
