/// How a text longer than the model's window is scored.
public enum LongTextMode: String, Sendable, CaseIterable {
    /// Keep the first `maxTokens` tokens (the model card's behaviour).
    case truncate
    /// Score overlapping windows of `maxTokens` tokens; each category's probability is the
    /// maximum over the windows, so unsafe content after token 512 is not missed.
    case windows
}
