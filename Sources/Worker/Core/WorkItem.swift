import Foundation
import Inference
import Kafka
import ModerationProto
import Tracing

/// A request that passed intake and waits for the model: decoded, valid, tokenized, with
/// where its result goes.
struct WorkItem: Sendable {
    /// The record it came from (its coordinates and assignment epoch are what the request ledger follows).
    var source: KafkaConsumerMessage
    var request: ModerationRequest
    /// The request's id, or `<topic>/<partition>/<offset>` when it has none.
    var requestID: String
    /// The request's encoding, which the result uses too.
    var contentType: ContentType
    /// The request's valid W3C trace context, continued on the result.
    var trace: TraceHeaders
    /// The output topic, or the allowed `reply-to`.
    var destination: String
    /// The model's input for its text.
    var prepared: PreparedText
    /// From the `deadline` header: no result is wanted after it.
    var deadline: Date?
    /// When intake read it (queue time and end-to-end latency start here).
    var read: ContinuousClock.Instant
    /// When intake queued it in the batcher (``StreamStageMetrics``' `prepare` ends, `queue` starts).
    var enqueued: ContinuousClock.Instant? = nil
    /// Its text's score-cache key, when the cache is on (the computed score is kept under it).
    var cacheKey: ScoreDigest? = nil
    /// Its `process` span, ended when its answer is acknowledged (or it is handed back).
    var span: (any Span)? = nil
}
