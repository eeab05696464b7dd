/// Why a result could not be encoded.
///
/// swift-protobuf declares its serializers as throwing (for proto2 required fields and
/// `Any` payloads, neither of which this schema uses), so this should never happen; it is a
/// typed error rather than a crash so that the worker can log it and fail the one message.
public enum ModerationEncodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The serializer refused the message; the detail is its explanation.
    case unencodable(String)

    public var description: String {
        switch self {
        case .unencodable(let detail): "cannot encode result: \(detail)"
        }
    }
}
