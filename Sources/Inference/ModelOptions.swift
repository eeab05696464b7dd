/// How a model is loaded and run. Every field has its default here and only here.
public struct ModelOptions: Sendable, Equatable {
    /// Threads per matrix multiply (the caller's thread included). Default: `nil`, all active cores.
    public var threads: Int?
    /// Most tokens computed in one forward pass (sum over the batch's sequences). Sizes the
    /// preallocated run state; longer batches are split. Default: 2048 (four 512-token inputs).
    public var batchTokenBudget: Int = 2048
    /// For a Hugging Face directory without `tokenizer.json`: where to take it from. Default: `nil`.
    public var tokenizerPath: String?
    /// Recompute the SHA-256 of the tensor data on load and compare with the header (reads
    /// every weight page once). Default: `false`.
    public var verifyContentHash: Bool = false
    /// How the layer matrices are held for the kernels (`WeightFormat`). Default: `.stored`.
    public var weightFormat: WeightFormat = .stored
    /// Where the packed weights live: `.besideModel` maps `<model>.packed` when it exists and
    /// matches (made by `duoguard pack`), never writing; `.directory` also builds it there;
    /// `.privateMemory` always packs a private copy. With `verifyContentHash`, the packed
    /// file's data digest is checked too. Default: `.besideModel`.
    public var packedWeights: PackedWeightsStorage = .besideModel

    /// The largest accepted `batchTokenBudget`: the run state grows linearly with it (about
    /// 150 KB per token for the 1B shape), and larger batches no longer make matmuls faster.
    public static let maxBatchTokenBudget = 16_384
    /// The largest accepted `threads`.
    public static let maxThreads = 512

    /// Defaults, with the given fields replaced (`nil`: keep the default).
    public init(threads: Int? = nil, batchTokenBudget: Int? = nil, tokenizerPath: String? = nil, verifyContentHash: Bool? = nil,
                weightFormat: WeightFormat? = nil, packedWeights: PackedWeightsStorage? = nil) {
        self.threads = threads
        if let weightFormat { self.weightFormat = weightFormat }
        if let packedWeights { self.packedWeights = packedWeights }
        if let batchTokenBudget { self.batchTokenBudget = batchTokenBudget }
        self.tokenizerPath = tokenizerPath
        if let verifyContentHash { self.verifyContentHash = verifyContentHash }
    }

    /// Checks the ranges before anything is allocated.
    public func validate() throws(ConfigurationError) {
        if let threads, !(1...Self.maxThreads).contains(threads) {
            throw ConfigurationError("--threads", "must be within 1...\(Self.maxThreads), not \(threads)")
        }
        guard (1...Self.maxBatchTokenBudget).contains(batchTokenBudget) else {
            throw ConfigurationError("--batch-tokens", "must be within 1...\(Self.maxBatchTokenBudget), not \(batchTokenBudget)")
        }
    }
}
