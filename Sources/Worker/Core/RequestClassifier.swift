import Inference

/// What scores a batch of prepared texts: `DuoGuardModel` in production, a fake that is slow or
/// fails on cue in a simulator (seam of the worker core). Each text on its own account: a bad
/// text fails alone, and `expired(i)` is asked between forward passes so a many-window text
/// stops at its deadline. Not reentrant: the inference loop calls it from one serial queue.
protocol RequestClassifier: Sendable {
    func classifyEach(_ prepared: [PreparedText], expired: (Int) -> Bool) -> [Result<Classification, InferenceError>]
}
