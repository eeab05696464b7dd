import Inference

@testable import Worker

/// The shell simulator's model: scores every text the same, or fails a whole batch when the
/// simulator says so. Called only from the simulator's thread (the inference loop runs the
/// model inline under the seeded executor).
final class SimulatedClassifier: RequestClassifier, @unchecked Sendable {
    /// Whether the next batch fails (set by the simulator before each step).
    var failNext = false

    func classifyEach(_ prepared: [PreparedText], expired: (Int) -> Bool) -> [Result<Classification, InferenceError>] {
        prepared.indices.map { index in
            failNext
                ? .failure(.emptySequence(index: index))
                : .success(Classification(logits: Array(repeating: -4, count: DuoGuardModel.categoryNames.count)))
        }
    }
}
