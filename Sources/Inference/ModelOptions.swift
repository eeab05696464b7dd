/// How a model is loaded and run.
public struct ModelOptions: Sendable {
    /// Threads per matrix multiply (the caller's thread included); `nil` = all active cores.
    public var threads: Int?
    /// Most tokens computed in one forward pass (sum over the batch's sequences). Sizes the
    /// preallocated run state; longer batches are split. Default 2048 (four 512-token inputs).
    public var batchTokenBudget: Int = 2048
    /// For a Hugging Face directory without `tokenizer.json`: where to take it from.
    public var tokenizerPath: String?
    /// Recompute the SHA-256 of the tensor data on load and compare with the header
    /// (reads every weight page; off by default because the 1B Q8_0 file takes seconds).
    public var verifyContentHash: Bool = false

    public init(threads: Int? = nil, batchTokenBudget: Int = 2048, tokenizerPath: String? = nil, verifyContentHash: Bool = false) {
        self.threads = threads
        self.batchTokenBudget = batchTokenBudget
        self.tokenizerPath = tokenizerPath
        self.verifyContentHash = verifyContentHash
    }
}
