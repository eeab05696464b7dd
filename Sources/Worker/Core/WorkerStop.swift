import Logging

/// The worker's stop path, apart from the Kafka client it closes afterwards: what happens
/// the moment stopping begins (`steps`), handing queued requests back (`abandonQueued`, also
/// used by revokes and losses), and the bounded wait for what is in flight (`waitForInFlight`).
/// `ModerationWorker` runs it; the shell simulator runs the same steps one at a time, with
/// the worker's tasks interleaved between them as threads would.
struct WorkerStop: Sendable {
    let ledger: RequestLedger
    let batcher: MicroBatcher<BatchItem>
    let budget: InFlightBudget
    let metrics: WorkerMetrics
    let yieldGate: ReplayYieldGate?
    let logger: Logger
    /// Test-only: the order before bebd035 (hand the queue back, then close the batcher), put
    /// back so the shell simulator can show it finds the duplicate it caused.
    var handsBackBeforeClosing = false
    /// Test-only: hand back every queued request, even one below a request answered at intake
    /// (the rule before the fix of the score cache's duplicate at a stop), so the shell
    /// simulator can show it finds that duplicate.
    var handsBackBelowAnswers = false

    /// What stopping does at once, in order. Close the batcher before emptying it: emptying
    /// frees space, which would let an intake blocked on a full queue add its (already
    /// registered) request in between; that request would be answered above a handed-back
    /// one, its position frozen below it, and the answer repeated after restart (a duplicate
    /// after a graceful stop).
    var steps: [@Sendable () -> Void] {
        let release: @Sendable () -> Void = { [yieldGate, ledger] in
            yieldGate?.release()
            ledger.stop()
        }
        let close: @Sendable () -> Void = { [batcher] in batcher.close() }
        let handBack: @Sendable () -> Void = { [self] in abandonQueued { _ in true } }
        let closeBudget: @Sendable () -> Void = { [budget] in budget.close() }
        return handsBackBeforeClosing ? [release, handBack, close, closeBudget] : [release, close, handBack, closeBudget]
    }

    /// Runs every step (stopping began: signal, fatal error, finished replay).
    func begin() {
        for step in steps { step() }
    }

    /// Hands queued (not yet batched) requests back: unanswered, offsets frozen below them,
    /// their bytes released. Their partition's next reader answers them. Synchronous calls
    /// stay queued: their callers wait for an answer.
    ///
    /// A queued request below one of its partition's requests that is answered or on its way
    /// (`RequestLedger.highestTaken`) stays queued and is answered instead: intake answers
    /// some requests at once (score-cache hits, errors, dead letters), ahead of earlier ones
    /// still queued, and handing an earlier one back would freeze the position below that
    /// answer, so the partition's next reader would answer it again — a duplicate after a
    /// graceful stop. Draining those few costs the stop (or revoke) their model time, within
    /// its drain bound; making hits wait behind the queue instead would cost every hit its
    /// queue time, the cache's benefit. Once the ledger has forgotten an assignment (a loss,
    /// or a revoke after its drain), everything of it still queued is handed back.
    func abandonQueued(_ predicate: (WorkItem) -> Bool) {
        var keepBelow: [RequestLedger.Assignment: Int64] = [:]
        if !handsBackBelowAnswers {
            var queued: [RequestLedger.Assignment: Set<Int64>] = [:]
            for case .stream(let item) in batcher.queued() where predicate(item) {
                queued[RequestLedger.Assignment(of: item.source), default: []].insert(item.source.offset)
            }
            keepBelow = ledger.highestTaken(queued: queued)
        }
        let handedBack = batcher.removeAll { entry in
            guard let item = entry.stream, predicate(item) else { return false }
            return keepBelow[RequestLedger.Assignment(of: item.source)].map { item.source.offset > $0 } ?? true
        }
        for case .stream(let item) in handedBack {
            ledger.handBack(item.source)
            budget.release(item.source.bufferedSize)
            WorkerTracing.fail(item.span, "abandoned")
            item.span?.end()
        }
        metrics.queueDepth.set(Double(batcher.count))
        metrics.inFlightBytes.set(Double(budget.used))
    }

    /// Waits (woken by the ledger, not polling) until every registered request is answered,
    /// at most `timeout` on `clock`; a fatal error ends the wait at once. True when drained.
    @discardableResult
    func waitForInFlight(within timeout: Duration, clock: any Clock<Duration>) async -> Bool {
        let drained = await ledger.drained(nil, within: timeout, clock: clock)
        let left = ledger.unansweredCount()
        if left > 0 {
            logger.warning("\(left) results still unacknowledged at shutdown; they will be re-read after restart")
        }
        return drained && left == 0
    }
}
