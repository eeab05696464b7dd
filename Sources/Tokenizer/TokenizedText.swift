/// The token ids of one input, ready for the model.
public struct TokenizedText: Sendable, Equatable {
    /// Token ids, including the special tokens of the post-processor (e.g. BOS) when requested.
    public var ids: [Int32]
    /// True when content tokens were dropped to respect the maximum length, so that callers can
    /// report (or window) long inputs instead of silently scoring only their beginning.
    public var truncated: Bool

    public init(ids: [Int32], truncated: Bool) {
        self.ids = ids
        self.truncated = truncated
    }
}
