import Synchronization

/// Forms inference batches from a bounded queue of tokenized requests.
///
/// A batch closes when its tokens reach the budget, when it holds `maxItems` requests, or
/// `maxWait` after its first request arrived — whichever comes first; the next batch forms
/// while the current one runs. With `adaptiveWait` the first request waits for company only
/// while requests arrive at least every `maxWait` on average (``CompanyWait``): a lone request
/// on an idle worker starts at once. The queue is bounded: `enqueue` suspends while it is full,
/// which stops the intake, which makes the consumer pause its partitions (memory stays
/// bounded with a backlog of any size).
///
/// Two classes share the batches. Stream requests (Kafka) go through ``enqueue(_:tokens:)``;
/// synchronous callers (HTTP, gRPC: someone is waiting) go through
/// ``enqueueUrgent(_:tokens:)`` into a lane of their own that the next batch takes first,
/// stream requests filling the rest only up to `urgentFillTokens` (0 by default). So a waiting
/// caller waits at most for the batch already running, however long the stream backlog, and
/// then for its own batch, which costs what it costs on an idle worker. The urgent lane never suspends
/// its caller: its bound is the caller's admission control (``SyncAdmission``), which
/// answers "over capacity" instead of queueing.
public final class MicroBatcher<Item: Sendable>: Sendable {
    public struct Limits: Sendable {
        /// Tokens per batch (the model's run state is sized for it). A single request larger
        /// than the budget still runs, alone.
        public var tokenBudget: Int
        /// Requests per batch.
        public var maxItems: Int
        /// How long the first request of a batch may wait for company.
        public var maxWait: Duration
        /// Wait `maxWait` only while arrivals are that dense (``CompanyWait``); else start at once.
        public var adaptiveWait: Bool
        /// Queued requests before `enqueue` suspends.
        public var capacity: Int
        /// Tokens (the callers' own included) up to which stream requests fill a batch that
        /// carries urgent requests; the urgent ones themselves may use the whole `tokenBudget`.
        /// Default 0: a caller's batch then costs what it costs on an idle worker, so its wait
        /// is the running batch plus that (issue 22's bound). Any fill adds its tokens' model
        /// time to every waiting caller, and gains the stream little: a batch's cost is nearly
        /// proportional to its tokens (the forward pass is padding-free), so stream requests
        /// cost the same in the caller's batch as in the next one; what a separate small batch
        /// loses is only its fixed per-batch part, about one short call's time per stream batch.
        public var urgentFillTokens: Int

        public init(
            tokenBudget: Int, maxItems: Int, maxWait: Duration, capacity: Int, urgentFillTokens: Int = 0, adaptiveWait: Bool = false
        ) {
            self.tokenBudget = tokenBudget
            self.maxItems = maxItems
            self.maxWait = maxWait
            self.adaptiveWait = adaptiveWait
            self.capacity = capacity
            self.urgentFillTokens = urgentFillTokens
        }
    }

    private struct Entry {
        var item: Item
        var tokens: Int
        var arrived: ContinuousClock.Instant
    }

    private struct State: ~Copyable {
        var queue: [Entry] = []
        /// Synchronous callers' requests: taken before `queue`.
        var urgent: [Entry] = []
        var closed = false
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
        var itemWaiter: CheckedContinuation<Void, Never>?
        /// Arrivals of both lanes: how long the next batch waits for company.
        var company: CompanyWait
    }

    public let limits: Limits
    private let state: Mutex<State>

    public init(limits: Limits) {
        self.limits = limits
        state = Mutex(State(company: CompanyWait(maxWait: limits.maxWait, adaptive: limits.adaptiveWait)))
    }

    /// Requests waiting for a batch (both classes).
    public var count: Int { state.withLock { $0.queue.count + $0.urgent.count } }

    /// Synchronous requests waiting for a batch.
    public var urgentCount: Int { state.withLock { $0.urgent.count } }

    /// Adds a synchronous caller's request costing `tokens` to the lane the next batch takes
    /// first. Never waits (the caller's admission control bounds this lane). False once closed.
    public func enqueueUrgent(_ item: Item, tokens: Int) -> Bool {
        let step: EnqueueStep = state.withLock { state in
            if state.closed { return .closed }
            let now = ContinuousClock.now
            state.urgent.append(Entry(item: item, tokens: tokens, arrived: now))
            state.company.noteArrival(at: now)
            defer { state.itemWaiter = nil }
            return .added(state.itemWaiter)
        }
        guard case .added(let waiter) = step else { return false }
        waiter?.resume()
        return true
    }

    /// Adds a request costing `tokens`, waiting while the queue is full. False once closed.
    public func enqueue(_ item: Item, tokens: Int) async -> Bool {
        while true {
            let step: EnqueueStep = state.withLock { state in
                if state.closed { return .closed }
                if state.queue.count >= limits.capacity { return .full }
                let now = ContinuousClock.now
                state.queue.append(Entry(item: item, tokens: tokens, arrived: now))
                state.company.noteArrival(at: now)
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
                if !state.queue.isEmpty || !state.urgent.isEmpty { return true }
                return state.closed ? false : nil
            }
            if ready == true { break }
            if ready == false { return nil }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let registered = state.withLock { state in
                    if !state.queue.isEmpty || !state.urgent.isEmpty || state.closed { return false }
                    state.itemWaiter = continuation
                    return true
                }
                if !registered { continuation.resume() }
            }
        }
        // Give the first request up to maxWait for company (adaptive: only while arrivals are
        // that dense), unless the batch is full already (or the batcher is closing: then drain
        // without waiting).
        let deadline = state.withLock { state in
            ([state.urgent.first?.arrived, state.queue.first?.arrived].compactMap { $0 }.min() ?? .now) + state.company.wait
        }
        while ContinuousClock.now < deadline && !isFull() && !state.withLock({ $0.closed }) {
            try? await Task.sleep(for: min(.milliseconds(1), deadline - .now))
        }
        return take()
    }

    /// The queued (not yet batched) stream requests, in order (the stop reads which it may hand back).
    public func queued() -> [Item] {
        state.withLock { $0.queue.map(\.item) }
    }

    /// Removes queued (not yet batched) stream requests matching `predicate` and returns them
    /// (synchronous ones are not handed back: their callers wait for an answer).
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
            if state.queue.count + state.urgent.count >= limits.maxItems { return true }
            var tokens = 0
            for lane in [state.urgent, state.queue] {
                for entry in lane {
                    tokens += entry.tokens
                    if tokens >= limits.tokenBudget { return true }
                }
            }
            return false
        }
    }

    /// The next batch: urgent requests first, in arrival order, then stream requests, while
    /// the budget (`urgentFillTokens` beside urgent requests) and `maxItems` allow (the first request always, even alone over budget).
    /// Each lane is taken as a prefix, so neither class is reordered within itself.
    private func take() -> [Item] {
        let (batch, waiters) = state.withLock { state in
            var tokens = 0
            var count = 0
            func prefix(of lane: [Entry], budget: Int) -> Int {
                var taken = 0
                for entry in lane {
                    if count == limits.maxItems { break }
                    if count > 0 && tokens + entry.tokens > budget { break }
                    tokens += entry.tokens
                    count += 1
                    taken += 1
                }
                return taken
            }
            let urgent = prefix(of: state.urgent, budget: limits.tokenBudget)
            // Stream requests only fill a batch whose urgent part ended by exhaustion, not by
            // the budget: an urgent request that did not fit stays first for the next batch.
            // Beside urgent requests they fill only up to `urgentFillTokens`.
            let fill = urgent > 0 ? min(limits.tokenBudget, limits.urgentFillTokens) : limits.tokenBudget
            let stream = urgent == state.urgent.count ? prefix(of: state.queue, budget: fill) : 0
            let batch = state.urgent.prefix(urgent).map(\.item) + state.queue.prefix(stream).map(\.item)
            state.urgent.removeFirst(urgent)
            state.queue.removeFirst(stream)
            // Only taking stream requests frees space an intake may wait for.
            let waiters = stream > 0 ? state.spaceWaiters : []
            if stream > 0 { state.spaceWaiters = [] }
            return (batch, waiters)
        }
        for waiter in waiters { waiter.resume() }
        return batch
    }
}
