/// When one batch went through the model, as the inference loop saw it: taken from the
/// batcher, started on the model's queue, ended there. A synchronous caller gets its batch's
/// timing with its outcome, so ``ModerationFrontDoor`` can say where its wait went (queued
/// behind the running batch, waiting for the model's thread, in its own batch, or waiting to be
/// resumed after it) without any text in the record.
struct BatchTiming: Sendable {
    /// `nextBatch()` returned it (the batch before it had ended).
    var taken: ContinuousClock.Instant
    /// The model's serial queue began on it.
    var modelStarted: ContinuousClock.Instant
    /// The model returned.
    var modelEnded: ContinuousClock.Instant
    /// Requests in the batch (both classes), how many of them synchronous, and their tokens.
    var items: Int
    var calls: Int
    var tokens: Int

    /// The model's time for the batch.
    var modelSeconds: Double { seconds(modelEnded - modelStarted) }
    /// From taking the batch to the model starting on it (dispatch to the model's thread).
    var dispatchSeconds: Double { seconds(modelStarted - taken) }

    /// A metric label: `calls` when the batch carries synchronous requests, else `stream`.
    var kind: String { calls > 0 ? "calls" : "stream" }
}
