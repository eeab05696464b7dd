import Synchronization

/// A single-threaded task executor whose next job is chosen by the simulator: tasks started
/// with it as their executor preference (and their child tasks) run only when the simulator
/// calls `runJob(at:)`, one job at a time, on the simulator's thread, so the interleaving of
/// the worker's real async types is a pure function of the seed. Continuations resumed from
/// anywhere (a ledger answer, a batcher close) enqueue their task here again.
final class SeededExecutor: TaskExecutor, @unchecked Sendable {
    private let jobs = Mutex<[UnownedJob]>([])

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        jobs.withLock { $0.append(unowned) }
    }

    /// Jobs ready to run.
    var readyCount: Int { jobs.withLock { $0.count } }

    /// Runs the ready job at `index` (taken modulo the ready count) to its next suspension;
    /// false when none is ready.
    @discardableResult
    func runJob(at index: Int) -> Bool {
        let job: UnownedJob? = jobs.withLock { jobs in
            guard !jobs.isEmpty else { return nil }
            return jobs.remove(at: index % jobs.count)
        }
        guard let job else { return false }
        job.runSynchronously(on: asUnownedTaskExecutor())
        return true
    }
}
