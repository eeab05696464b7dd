/// Everything that can go wrong when loading a tokenizer or encoding input.
///
/// Typed (`throws(TokenizerError)`) so that callers handle each case without guessing. The
/// load errors stop the worker at start-up with a message naming the offending part of the
/// file (they also arrive wrapped in `ModelFileError.invalidMetadata` for the copy embedded in
/// a GGUF). `invalidUTF8` comes only from `encode(utf8:)`, which `duoguard tokenize` uses; the
/// worker never sees it, because `ModerationCodec` rejects a request that is not UTF-8
/// (`INVALID_UTF8`) before its text, then a Swift `String`, reaches the tokenizer.
public enum TokenizerError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The path names no tokenizer.json (neither a file nor a directory holding one).
    case fileNotFound(String)
    /// The file exists but could not be read.
    case unreadable(path: String, reason: String)
    /// The JSON is not well formed, a required field is missing or of the wrong type, or a
    /// value is out of range (ids beyond what the file can define, ids given twice, nesting
    /// deeper than `JSONReader.defaultMaxDepth`).
    case malformed(String)
    /// Well-formed, but asks for a component this implementation does not provide (e.g. a
    /// WordPiece model, a pre-tokenizer other than the Llama-3 one, a post-processor adding
    /// more than 64 tokens, a file above 1 GiB).
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
