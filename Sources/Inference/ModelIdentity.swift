/// Which model produced a score: recorded with every result so a re-score after a model
/// change is traceable.
public struct ModelIdentity: Sendable, Equatable {
    /// The source model's name (`duoguard.source_model`).
    public var name: String
    /// Type of the matrices: "F32", "F16", "Q8_0", "Q4_0".
    public var quantization: String
    /// `sha256:<hex>` over the tensor data.
    public var contentHash: String
}
