/// Why a batch could not be classified. Inputs are checked before any computation, so
/// a bad request never crashes the process or corrupts the run state.
public enum InferenceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A sequence without any token (the tokenizer always adds `<|begin_of_text|>`).
    case emptySequence(index: Int)
    /// A token id outside `0 ..< vocabSize`.
    case tokenOutOfRange(sequence: Int, token: Int32, vocabSize: Int)
    /// A single sequence longer than the batch token budget.
    case sequenceTooLong(index: Int, tokens: Int, budget: Int)
    /// The text's deadline passed between two forward passes over its windows; the rest of
    /// its windows were not computed.
    case deadlineExceeded(windowsDone: Int, windows: Int)

    public var description: String {
        switch self {
        case .emptySequence(let index): "sequence \(index) has no tokens"
        case .tokenOutOfRange(let sequence, let token, let vocabSize):
            "sequence \(sequence): token id \(token) outside the vocabulary (0..<\(vocabSize))"
        case .sequenceTooLong(let index, let tokens, let budget):
            "sequence \(index) has \(tokens) tokens, more than the batch token budget \(budget)"
        case .deadlineExceeded(let done, let windows):
            "deadline passed after \(done) of \(windows) windows"
        }
    }
}
