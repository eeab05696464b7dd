/// Why a request could not be accepted: all of these make the message "poison".
///
/// The worker copies a poison message to the dead-letter topic with `code` in the
/// `error-code` header and `description` in `error-message`, and, when the request id is
/// known, also answers with an INVALID_ARGUMENT result (see `statusCode`).
public enum ModerationDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The `content-type` header names an encoding the protocol does not define.
    case unknownContentType(String)
    /// The value is not a valid message in the chosen encoding; the detail is the decoder's
    /// own explanation, for humans.
    case undecodable(String)
    /// The value (JSON) or a string field (protobuf) is not valid UTF-8.
    case invalidUTF8
    /// `text` is absent or empty: there is nothing to classify.
    case missingText
    /// `text` has more UTF-8 bytes than the worker accepts.
    case textTooLong(bytes: Int, limit: Int)
    /// `threshold` is set but not strictly between 0 and 1 (NaN, 0 and 1 included: 0 would
    /// flag everything, 1 nothing).
    case invalidThreshold(Float)

    /// Stable, machine-readable code for the dead-letter `error-code` header. Never change
    /// these strings: consumers of the dead-letter topic match on them.
    public var code: String {
        switch self {
        case .unknownContentType: "UNKNOWN_CONTENT_TYPE"
        case .undecodable: "UNDECODABLE"
        case .invalidUTF8: "INVALID_UTF8"
        case .missingText: "MISSING_TEXT"
        case .textTooLong: "TEXT_TOO_LONG"
        case .invalidThreshold: "INVALID_THRESHOLD"
        }
    }

    /// The status code of the result answered for such a request: the caller sent something
    /// wrong, retrying the same bytes cannot help.
    public var statusCode: ModerationStatus.Code { .invalidArgument }

    /// Human-readable explanation, for the `error-message` header and the result's
    /// status message.
    public var description: String {
        switch self {
        case .unknownContentType(let value): "unknown content-type \"\(value)\""
        case .undecodable(let detail): "undecodable request: \(detail)"
        case .invalidUTF8: "request is not valid UTF-8"
        case .missingText: "request has no text"
        case .textTooLong(let bytes, let limit): "text is \(bytes) bytes, limit is \(limit)"
        case .invalidThreshold(let value): "threshold \(value) is not strictly between 0 and 1"
        }
    }
}
