import Foundation
import Kafka
import Logging

/// The consumer side of the worker: reads records, holds each one's bytes in the in-flight
/// budget, registers it in the request ledger, and either queues it for the model or
/// answers it at once (`RequestPreparer` decides which). The records come from a
/// `MessageSource` (the Kafka consumer, or a simulator's fake).
struct RequestIntake<Source: MessageSource>: Sendable {
    let consumer: Source
    let ledger: RequestLedger
    let batcher: MicroBatcher<BatchItem>
    let budget: InFlightBudget
    let preparer: RequestPreparer
    let sender: ResultSender
    let metrics: WorkerMetrics
    let state: WorkerState
    let replay: ReplayPlan?
    let tracing: WorkerTracing
    let logText: Bool
    let logger: Logger
    /// A yielding replay waits here while the live group is behind (`nil`: never waits).
    var yieldGate: ReplayYieldGate? = nil

    /// Runs until shutdown begins or the consumer closes.
    func run() async {
        var messages = consumer.records.makeAsyncIterator()
        while !state.isStopping {
            // Before taking the next record: what was taken is answered meanwhile.
            if let yieldGate { await yieldGate.wait() }
            guard !state.isStopping, let message = await messages.next(isolation: #isolation) else { break }
            if state.isStopping { break }  // read after shutdown began: not ours to answer any more
            if let replay, !(takeForReplay(message, replay)) { continue }
            guard await budget.acquire(message.bufferedSize) else { break }
            metrics.inFlightBytes.set(Double(budget.used))
            // A message of an assignment that was revoked meanwhile is its new owner's.
            guard consumer.assignmentEpoch(of: message.topicPartition) == message.assignmentEpoch, ledger.register(message) else {
                // Fetched under an assignment that has since been revoked: its owner re-reads it.
                budget.release(message.bufferedSize)
                metrics.staleDropped.increment()
                continue
            }
            metrics.consumed.increment()
            let read = ContinuousClock.now
            metrics.streamStages.recordFetch(timestampMilliseconds: message.timestampMilliseconds, read: Date())
            let envelope = preparer.openEnvelope(message)
            let span = tracing.process(message, trace: try? envelope?.get().trace)
            switch await preparer.prepare(message, opened: envelope, read: read, now: Date()) {
            case .ready(var item):
                if logText {
                    logger.info("request", metadata: ["id": "\(item.requestID)", "text": "\(item.request.text)"])
                }
                item.span = span
                item.enqueued = .now
                metrics.streamStages.record(.prepare, from: read, to: .now)
                if !(await batcher.enqueue(.stream(item), tokens: item.prepared.tokenCount)) {
                    ledger.handBack(message)
                    budget.release(message.bufferedSize)
                    WorkerTracing.fail(span, "abandoned")
                    span.end()
                }
            case .answered(let answer):
                if let reason = answer.deadLetter {
                    logger.warning(
                        "request dead-lettered",
                        metadata: ["source": "\(message.topic)/\(message.partition)/\(message.offset)", "code": "\(reason.code)"])
                    WorkerTracing.fail(span, reason.code)
                } else if answer.status != .ok {
                    WorkerTracing.fail(span, "\(answer.status)")
                }
                sender.send(answer.outgoing, for: message, read: read, span: span)
            }
            metrics.queueDepth.set(Double(batcher.count))
        }
    }

    /// Replay: answer only the plan's range; pause a partition once its end is reached.
    private func takeForReplay(_ message: KafkaConsumerMessage, _ plan: ReplayPlan) -> Bool {
        switch plan.decide(partition: message.partition, offset: message.offset) {
        case .skip:
            return false
        case .end:
            try? consumer.pause([message.topicPartition])
            return false
        case .answer(let last):
            if last { try? consumer.pause([message.topicPartition]) }
            return true
        }
    }
}
