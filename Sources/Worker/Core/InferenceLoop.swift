import Dispatch
import Foundation
import Inference
import Kafka
import Logging
import ModerationProto

/// The model side of the worker: takes batches from the batcher, answers the requests that
/// expired while queued without the model (load shedding under backlog), runs the rest
/// through the model on its own thread, and hands each result to the sender (stream
/// requests) or to its waiting caller (synchronous ones).
struct InferenceLoop: Sendable {
    /// The model (`DuoGuardModel`), or the simulator's fake.
    let model: any RequestClassifier
    let batcher: MicroBatcher<BatchItem>
    /// Compose and send stream requests' answers; nil without Kafka (`duoguard serve`), where
    /// only synchronous calls are batched.
    let preparer: RequestPreparer?
    let sender: ResultSender?
    let thresholds: CategoryThresholds
    let metrics: WorkerMetrics
    let logger: Logger
    let tracing: WorkerTracing
    /// The model is not reentrant: one serial queue runs it, off the cooperative pool.
    let queue = DispatchQueue(label: "duoguard.inference")
    /// Test-only: run the model on the calling task instead of the queue, so a simulator's
    /// single-threaded executor sees every step of the loop (and nothing runs beside it).
    var runsModelInline = false
    /// A yielding replay takes no new batch while the gate is closed (`nil`: never waits):
    /// what live waits behind is then at most the batch already in the model, not the queue.
    var yieldGate: ReplayYieldGate? = nil

    /// Runs until the batcher is closed and drained.
    func run() async {
        let batchMetrics = BatchTimingMetrics(registry: metrics.registry)
        while true {
            if let yieldGate { await yieldGate.waitForBatch() }
            guard let batch = await batcher.nextBatch() else { break }
            let taken = ContinuousClock.now
            metrics.queueDepth.set(Double(batcher.count))
            let now = Date()
            var live: [BatchItem] = []
            for entry in batch {
                guard let deadline = entry.deadline, deadline < now else {
                    live.append(entry)
                    continue
                }
                metrics.deadlineShed.increment()
                switch entry {
                case .stream(let item):
                    WorkerTracing.fail(item.span, "deadlineExceeded")
                    if let preparer, let sender {
                        sender.send(preparer.expired(item, now: now).outgoing, for: item.source, read: item.read, span: item.span)
                    }
                case .call(let call):
                    call.finish(.expired("deadline \(deadline) passed while the request was queued (now \(now))"))
                }
            }
            if !live.isEmpty { await classify(live, taken: taken, batchMetrics: batchMetrics) }
        }
    }

    private func classify(_ batch: [BatchItem], taken: ContinuousClock.Instant, batchMetrics: BatchTimingMetrics) async {
        let started = ContinuousClock.now
        // A repeat of a text scored meanwhile, or of one in this batch, needs no model run.
        let coalescing = ScoreCoalescing(batch.map { .init(key: $0.stream?.cacheKey, hasDeadline: $0.deadline != nil) }) {
            preparer?.scoreCache?.lookupQueued($0)
        }
        let computed = coalescing.computed.map { batch[$0] }
        let prepared = computed.map(\.prepared)
        let tokens = prepared.reduce(0) { $0 + $1.sequences.reduce(0) { $0 + $1.count } }
        let span = tracing.inference(computed.compactMap(\.stream), tokens: tokens)
        let deadlines = computed.map(\.deadline)
        // Each request on its own account (a bad token fails only its request); deadlines are
        // checked between forward passes, so a many-window text stops at its own.
        // The model's own start and end, read where it runs (what a caller's wait is made of).
        let expired: @Sendable (Int) -> Bool = { deadlines[$0].map { $0 < Date() } ?? false }
        let scored: [Result<Classification, InferenceError>]
        var modelStarted = ContinuousClock.now
        var modelEnded = modelStarted
        if prepared.isEmpty {
            scored = []
        } else if runsModelInline {
            modelStarted = ContinuousClock.now
            scored = model.classifyEach(prepared, expired: expired)
            modelEnded = ContinuousClock.now
        } else {
            (scored, modelStarted, modelEnded) = await withCheckedContinuation {
                (continuation: CheckedContinuation<([Result<Classification, InferenceError>], ContinuousClock.Instant, ContinuousClock.Instant), Never>) in
                queue.async { [model] in
                    let modelStarted = ContinuousClock.now
                    let outcomes = model.classifyEach(prepared, expired: expired)
                    continuation.resume(returning: (outcomes, modelStarted, ContinuousClock.now))
                }
            }
        }
        let outcomes = coalescing.outcomes(scored)
        preparer?.scoreCache?.noteCoalesced(coalescing.copies)
        let timing = BatchTiming(
            taken: taken, modelStarted: modelStarted, modelEnded: modelEnded, items: computed.count,
            calls: computed.count { if case .call = $0 { true } else { false } }, tokens: tokens)
        if !prepared.isEmpty { batchMetrics.record(timing, logger: logger) }
        let inferenceSeconds = seconds(ContinuousClock.now - started)
        if !prepared.isEmpty {
            metrics.inferenceSeconds.record(inferenceSeconds)
            metrics.batchSize.record(Double(computed.count))
            metrics.batchTokens.record(Double(tokens))
        }
        if outcomes.contains(where: { if case .failure = $0 { true } else { false } }) { WorkerTracing.fail(span, "inference") }
        span.end()
        for (index, entry) in batch.enumerated() {
            let item: WorkItem
            switch entry {
            case .stream(let streamed):
                item = streamed
            case .call(let call):
                answer(call, outcomes[index], timing: timing)
                continue
            }
            guard let preparer, let sender else { continue }
            if coalescing.isComputed(index) { recordStages(item, timing) }
            let result: ModerationResult
            switch outcomes[index] {
            case .success(let classification):
                if let key = item.cacheKey, coalescing.isComputed(index) {
                    preparer.scoreCache?.insert(key, TextScore(classification, of: item.prepared))
                }
                result = preparer.results.scored(
                    item, classification: classification, operatorThresholds: thresholds,
                    queueSeconds: seconds(started - item.read), inferenceSeconds: inferenceSeconds)
            case .failure(.deadlineExceeded(let done, let windows)):
                metrics.deadlineShed.increment()
                WorkerTracing.fail(item.span, "deadlineExceeded")
                result = preparer.results.status(
                    .deadlineExceeded, "deadline passed after \(done) of \(windows) windows", requestID: item.requestID,
                    request: item.request, source: item.source)
            case .failure(let error):
                logger.error("inference failed", metadata: ["error": "\(error)"])
                WorkerTracing.fail(item.span, "internal")
                result = preparer.results.status(
                    .internal, "inference failed: \(error)", requestID: item.requestID, request: item.request, source: item.source)
            }
            let answer = preparer.answer(
                result, to: item.destination, source: item.source, contentType: item.contentType, trace: item.trace,
                deadLetter: nil)
            sender.send(answer.outgoing, for: item.source, read: item.read, span: item.span)
        }
    }

    /// A scored stream request's stages up to its result's hand-off (``StreamStageMetrics``).
    private func recordStages(_ item: WorkItem, _ timing: BatchTiming) {
        let stages = metrics.streamStages
        if let enqueued = item.enqueued { stages.record(.queue, from: enqueued, to: timing.taken) }
        stages.record(.dispatch, timing.dispatchSeconds)
        stages.record(.model, timing.modelSeconds)
        stages.record(.compose, from: timing.modelEnded, to: .now)
    }

    /// Hands a synchronous call its outcome (its caller composes the result).
    private func answer(_ call: SyncCall, _ outcome: Result<Classification, InferenceError>, timing: BatchTiming) {
        switch outcome {
        case .success(let classification):
            call.finish(.classified(classification, timing))
        case .failure(.deadlineExceeded(let done, let windows)):
            metrics.deadlineShed.increment()
            call.finish(.expired("deadline passed after \(done) of \(windows) windows"))
        case .failure(let error):
            logger.error("inference failed", metadata: ["error": "\(error)"])
            call.finish(.failed(error))
        }
    }
}
