import Inference

/// What the model said about one text, everything a scored result reports of it before
/// thresholds: the classification and the shape of the input (tokens, truncation, windows).
/// The score cache keeps exactly this, so a cache hit builds the same result a model run would.
public struct TextScore: Sendable, Equatable {
    public var classification: Classification
    /// Tokens over all sequences of the text.
    public var tokenCount: Int
    /// True when truncation cut the text.
    public var truncated: Bool
    /// Sequences scored (1, or the number of windows).
    public var windows: Int

    public init(classification: Classification, tokenCount: Int, truncated: Bool, windows: Int) {
        self.classification = classification
        self.tokenCount = tokenCount
        self.truncated = truncated
        self.windows = windows
    }

    /// The score of `prepared` as classified by the model.
    public init(_ classification: Classification, of prepared: PreparedText) {
        self.init(
            classification: classification, tokenCount: prepared.tokenCount, truncated: prepared.truncated,
            windows: prepared.sequences.count)
    }

    /// Estimated bytes one cache entry holds: the digest, logits and probabilities, the
    /// fields, and the bookkeeping of the table and the recency list (a measured guess, not
    /// malloc's truth; the bound is what the operator sizes with).
    var cacheCost: Int {
        ScoreDigest.byteCount + classification.logits.count * 4 + classification.probabilities.count * 4 + 128
    }
}
