import Foundation

/// A fixed set of persistent worker threads running fork-join loops.
///
/// Matrix multiplies run hundreds of times per batch, so threads are created once and
/// parked on a condition variable between jobs rather than spawned per call. The calling
/// thread takes part in every job, so a pool of `threadCount` uses `threadCount - 1` extra
/// threads and a pool of 1 runs everything inline.
///
/// `parallelFor` must be called from one thread at a time (the model's `classify` contract).
public final class ThreadPool: @unchecked Sendable {
    /// Threads working on each job, the caller included.
    public let threadCount: Int
    private let state: State

    /// Shared between the pool and its threads, so the threads never keep the pool alive.
    private final class State: @unchecked Sendable {
        let condition = NSCondition()
        var job: ((Int) -> Void)?
        var taskCount = 0
        var nextTask = 0
        var finishedTasks = 0
        var shuttingDown = false

        /// Takes the next task index, or nil; called with the lock held.
        func claim() -> Int? {
            guard job != nil, nextTask < taskCount else { return nil }
            defer { nextTask += 1 }
            return nextTask
        }

        func workerLoop() {
            condition.lock()
            while true {
                if shuttingDown { break }
                if let task = claim(), let body = job {
                    condition.unlock()
                    body(task)
                    condition.lock()
                    finishedTasks += 1
                    if finishedTasks == taskCount { condition.broadcast() }
                } else {
                    condition.wait()
                }
            }
            condition.unlock()
        }
    }

    /// - Parameter threadCount: threads per job including the caller; `nil` = all active cores.
    public init(threadCount: Int? = nil) {
        let count = max(1, threadCount ?? ProcessInfo.processInfo.activeProcessorCount)
        self.threadCount = count
        state = State()
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
            s.finishedTasks = 0
            s.condition.broadcast()
            while let task = s.claim() {
                s.condition.unlock()
                body(task)
                s.condition.lock()
                s.finishedTasks += 1
            }
            while s.finishedTasks < s.taskCount { s.condition.wait() }
            s.job = nil
            s.condition.unlock()
        }
    }
}
