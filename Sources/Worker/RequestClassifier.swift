import Inference

/// What scores a batch of prepared texts: `DuoGuardModel` in production, a fake that is slow or
/// fails on cue in the simulator (seam of the worker core). Not reentrant: the inference loop
/// calls it from one serial queue.
protocol RequestClassifier: Sendable {
    func classify(_ prepared: [PreparedText]) throws(InferenceError) -> [Classification]
}

extension DuoGuardModel: RequestClassifier {}
