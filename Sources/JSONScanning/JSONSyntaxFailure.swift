/// What a `JSONReader` throws when the text is not JSON: each user of the reader names its own
/// error type (a tokenizer file error, a malformed CloudEvent...), so that a syntax error comes
/// out of the same `throws(...)` as the user's own checks and nobody wraps or re-maps errors.
///
/// `detail` says what was wrong; `offset` is the byte index in the text where it was found.
public protocol JSONSyntaxFailure: Error {
    static func jsonSyntax(_ detail: String, at offset: Int) -> Self
}
