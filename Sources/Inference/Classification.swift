import Foundation

/// The classifier's output for one input.
public struct Classification: Sendable, Equatable {
    /// One logit per category, in `DuoGuardModel.categoryNames` order.
    public var logits: [Float]
    /// sigmoid(logit) per category: independent probabilities (multi-label).
    public var probabilities: [Float]

    public init(logits: [Float]) {
        self.logits = logits
        probabilities = logits.map { Float(1 / (1 + exp(-Double($0)))) }
    }

    public var maxProbability: Float { probabilities.max() ?? 0 }

    /// Per category, the maximum over a long text's windows (the single classification when
    /// there is one), so content anywhere in the text counts. Taken on logits, which sigmoid
    /// maps monotonically to probabilities.
    public static func maximum<C: Collection>(of windows: C) -> Classification where C.Element == Classification {
        guard var logits = windows.first?.logits else { return Classification(logits: []) }
        for window in windows.dropFirst() {
            for index in logits.indices where index < window.logits.count {
                logits[index] = max(logits[index], window.logits[index])
            }
        }
        return Classification(logits: logits)
    }
}
