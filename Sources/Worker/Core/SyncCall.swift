import Foundation
import Inference

/// A synchronous caller's request waiting for the model: its tokens, its deadline, and how
/// to hand the outcome back to the waiting caller (``ModerationFrontDoor`` composes the result).
struct SyncCall: Sendable {
    /// What the model reads.
    var prepared: PreparedText
    /// The caller's deadline (gRPC deadline, HTTP header): no answer is useful after it.
    var deadline: Date?
    /// When it entered the batcher's urgent lane (its queue time starts here; admission and
    /// tokenization before it are the front door's own).
    var enqueued: ContinuousClock.Instant
    /// Called exactly once, from the inference loop.
    let finish: @Sendable (SyncOutcome) -> Void
}

/// What the inference loop tells a synchronous caller.
enum SyncOutcome: Sendable {
    /// Scored, in the batch whose timing is given.
    case classified(Classification, BatchTiming)
    /// Its deadline passed while it was queued (nothing computed) or between windows.
    case expired(String)
    /// The model failed on it.
    case failed(InferenceError)
}
