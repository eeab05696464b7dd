import Logging

/// Where one synchronous call's time went, from admission to its caller resuming: the stages
/// ``FrontDoorMetrics`` records (`duoguard_sync_stage_seconds{entry,stage}`) and the debug
/// line ``ModerationFrontDoor`` logs. Issue 22 asks that a waiting caller wait at most for the
/// batch already running plus its own short batch; these stages show which part broke that:
///
/// - `prepare`: admitted → in the urgent lane (tokenization);
/// - `queue`: in the lane → its batch taken (the running batch's rest, or more if the call
///   missed a batch);
/// - `dispatch`: taken → the model's thread started on it;
/// - `model`: its own batch in the model;
/// - `resume`: model done → the caller's task running again (the cooperative pool's delay).
struct SyncTimeline: Sendable {
    var admitted: ContinuousClock.Instant
    var enqueued: ContinuousClock.Instant
    var batch: BatchTiming
    var resumed: ContinuousClock.Instant

    /// Stage names and their seconds, in order.
    var stages: [(name: String, seconds: Double)] {
        [
            ("prepare", seconds(enqueued - admitted)),
            ("queue", seconds(batch.taken - enqueued)),
            ("dispatch", batch.dispatchSeconds),
            ("model", batch.modelSeconds),
            ("resume", seconds(resumed - batch.modelEnded)),
        ]
    }

    /// What results report as queue time: from the urgent lane to the model starting on it.
    var queueSeconds: Double { seconds(batch.modelStarted - enqueued) }

    /// The debug line's fields (milliseconds, sizes; never text).
    func metadata(entry: String, tokens: Int) -> Logger.Metadata {
        var fields: Logger.Metadata = [
            "entry": "\(entry)", "tokens": "\(tokens)", "batch_items": "\(batch.items)", "batch_calls": "\(batch.calls)",
            "batch_tokens": "\(batch.tokens)", "total_ms": "\(BatchTimingMetrics.milliseconds(seconds(resumed - admitted)))",
        ]
        for stage in stages { fields["\(stage.name)_ms"] = "\(BatchTimingMetrics.milliseconds(stage.seconds))" }
        return fields
    }
}
