import Synchronization

/// Forms inference batches from a bounded queue of tokenized requests.
///
/// A batch closes when its tokens reach the budget, when it holds `maxItems` requests, or
/// `maxWait` after its first request arrived — whichever comes first; the next batch forms
/// while the current one runs. The queue is bounded: `enqueue` suspends while it is full,
/// which stops the intake, which makes the consumer pause its partitions (memory stays
/// bounded with a backlog of any size).
public final class MicroBatcher<Item: Sendable>: Sendable {
    public struct Limits: Sendable {
        /// Tokens per batch (the model's run state is sized for it). A single request larger
        /// than the budget still runs, alone.
        public var tokenBudget: Int
        /// Requests per batch.
        public var maxItems: Int
        /// How long the first request of a batch may wait for company.
        public var maxWait: Duration
        /// Queued requests before `enqueue` suspends.
        public var capacity: Int

        public init(tokenBudget: Int, maxItems: Int, maxWait: Duration, capacity: Int) {
            self.tokenBudget = tokenBudget
            self.maxItems = maxItems
            self.maxWait = maxWait
            self.capacity = capacity
        }
    }

    private struct Entry {
        var item: Item
        var tokens: Int
        var arrived: ContinuousClock.Instant
    }

    private struct State: ~Copyable {
        var queue: [Entry] = []
        var closed = false
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
        var itemWaiter: CheckedContinuation<Void, Never>?
    }

    public let limits: Limits
    private let state = Mutex(State())

    public init(limits: Limits) {
        self.limits = limits
    }

    /// Requests waiting for a batch.
    public var count: Int { state.withLock { $0.queue.count } }

    /// Adds a request costing `tokens`, waiting while the queue is full. False once closed.
    public func enqueue(_ item: Item, tokens: Int) async -> Bool {
        while true {
            let step: EnqueueStep = state.withLock { state in
                if state.closed { return .closed }
                if state.queue.count >= limits.capacity { return .full }
                state.queue.append(Entry(item: item, tokens: tokens, arrived: .now))
                defer { state.itemWaiter = nil }
                return .added(state.itemWaiter)
            }
            switch step {
            case .added(let waiter):
                waiter?.resume()
                return true
            case .closed:
                return false
            case .full:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let registered = state.withLock { state in
                        if state.closed || state.queue.count < limits.capacity { return false }
                        state.spaceWaiters.append(continuation)
                        return true
                    }
                    if !registered { continuation.resume() }
                }
            }
        }
    }

    /// The next batch; `nil` when closed and drained. Call from one task at a time.
    public func nextBatch() async -> [Item]? {
        // Wait for a first request.
        while true {
            let ready: Bool? = state.withLock { state in
                if !state.queue.isEmpty { return true }
                return state.closed ? false : nil
            }
            if ready == true { break }
            if ready == false { return nil }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let registered = state.withLock { state in
                    if !state.queue.isEmpty || state.closed { return false }
                    state.itemWaiter = continuation
                    return true
                }
                if !registered { continuation.resume() }
            }
        }
        // Give the first request up to maxWait for company, unless the batch is full already
        // (or the batcher is closing: then drain without waiting).
        let deadline = state.withLock { $0.queue.first?.arrived ?? .now } + limits.maxWait
        while ContinuousClock.now < deadline && !isFull() && !state.withLock({ $0.closed }) {
            try? await Task.sleep(for: min(.milliseconds(1), deadline - .now))
        }
        return take()
    }

    /// Removes queued (not yet batched) requests matching `predicate` and returns them.
    public func removeAll(where predicate: (Item) -> Bool) -> [Item] {
        let (removed, waiters) = state.withLock { state in
            var removed: [Item] = []
            state.queue.removeAll { entry in
                if predicate(entry.item) {
                    removed.append(entry.item)
                    return true
                }
                return false
            }
            defer { state.spaceWaiters = [] }
            return (removed, state.spaceWaiters)
        }
        for waiter in waiters { waiter.resume() }
        return removed
    }

    /// No more requests: waiting `enqueue` calls return false; `nextBatch` drains, then nil.
    public func close() {
        let (waiters, itemWaiter) = state.withLock { state in
            state.closed = true
            defer {
                state.spaceWaiters = []
                state.itemWaiter = nil
            }
            return (state.spaceWaiters, state.itemWaiter)
        }
        for waiter in waiters { waiter.resume() }
        itemWaiter?.resume()
    }

    private enum EnqueueStep {
        case added(CheckedContinuation<Void, Never>?)
        case closed
        case full
    }

    private func isFull() -> Bool {
        state.withLock { state in
            if state.queue.count >= limits.maxItems { return true }
            var tokens = 0
            for entry in state.queue {
                tokens += entry.tokens
                if tokens >= limits.tokenBudget { return true }
            }
            return false
        }
    }

    private func take() -> [Item] {
        let (batch, waiters) = state.withLock { state in
            var tokens = 0
            var count = 0
            for entry in state.queue {
                if count == limits.maxItems { break }
                if count > 0 && tokens + entry.tokens > limits.tokenBudget { break }
                tokens += entry.tokens
                count += 1
            }
            let batch = state.queue.prefix(count).map(\.item)
            state.queue.removeFirst(count)
            defer { state.spaceWaiters = [] }
            return (batch, state.spaceWaiters)
        }
        for waiter in waiters { waiter.resume() }
        return batch
    }
}
