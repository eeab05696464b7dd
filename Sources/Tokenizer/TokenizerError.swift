/// Everything that can go wrong when loading a tokenizer or encoding input.
///
/// Typed (`throws(TokenizerError)`) so that callers such as the worker can map each case to a
/// protocol answer without guessing: `invalidUTF8` becomes `INVALID_ARGUMENT`, the load errors
/// stop the process at start-up with a message that names the offending part of the file.
public enum TokenizerError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The path names no tokenizer.json (neither a file nor a directory holding one).
    case fileNotFound(String)
    /// The file exists but could not be read.
    case unreadable(path: String, reason: String)
    /// The JSON is not well formed, or a required field is missing or of the wrong type.
    case malformed(String)
    /// Well-formed, but asks for a component this implementation does not provide
    /// (e.g. a WordPiece model or a pre-tokenizer other than the Llama-3 one).
    case unsupported(String)
    /// The input bytes are not valid UTF-8; they are rejected rather than silently repaired.
    case invalidUTF8

    public var description: String {
        switch self {
        case .fileNotFound(let path): "tokenizer: no tokenizer.json at \(path)"
        case .unreadable(let path, let reason): "tokenizer: cannot read \(path): \(reason)"
        case .malformed(let what): "tokenizer: malformed tokenizer.json: \(what)"
        case .unsupported(let what): "tokenizer: unsupported tokenizer.json: \(what)"
        case .invalidUTF8: "tokenizer: input is not valid UTF-8"
        }
    }
}
