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
    /// `metadata` is beyond `MetadataLimits` (entries, key or value bytes, total bytes); the
    /// detail says which.
    case metadataTooLarge(String)
    /// `threshold` is set but not strictly between 0 and 1 (NaN, 0 and 1 included: 0 would
    /// flag everything, 1 nothing).
    case invalidThreshold(Float)
    /// The value starts with the Schema Registry magic byte 0x00 but the frame around the
    /// payload is broken: shorter than its 5-byte header, or a protobuf message-index list
    /// that is truncated, negative, over-long or not a varint. The detail says which.
    case schemaRegistryFraming(String)
    /// The frame names a schema id outside the worker's allow-list (`--schema-ids`).
    case schemaIDNotAllowed(UInt32)
    /// The protobuf frame's message-index path names another message of the schema than
    /// the request (ModerationRequest is `[0]`: the first message of moderation.proto).
    case schemaMessageIndex([Int32])
    /// A CloudEvent with a `specversion` other than 1.0.
    case cloudEventSpecVersion(String)
    /// A CloudEvent attribute that is required but absent or empty, of the wrong JSON type,
    /// not UTF-8, or malformed (`time` that is not RFC 3339).
    case cloudEventAttribute(name: String, problem: String)
    /// A structured-mode CloudEvent that is not a JSON object: bad JSON, another JSON type at
    /// the top, duplicate members, or nesting beyond the limit.
    case cloudEventMalformed(String)
    /// A CloudEvent without usable data: none, both `data` and `data_base64`, data that is
    /// not a JSON object, protobuf data outside `data_base64`, or invalid base64.
    case cloudEventData(String)

    /// Stable, machine-readable code for the dead-letter `error-code` header. Never change
    /// these strings: consumers of the dead-letter topic match on them.
    public var code: String {
        switch self {
        case .unknownContentType: "UNKNOWN_CONTENT_TYPE"
        case .undecodable: "UNDECODABLE"
        case .invalidUTF8: "INVALID_UTF8"
        case .missingText: "MISSING_TEXT"
        case .textTooLong: "TEXT_TOO_LONG"
        case .metadataTooLarge: "METADATA_TOO_LARGE"
        case .invalidThreshold: "INVALID_THRESHOLD"
        case .schemaRegistryFraming: "SCHEMA_REGISTRY_FRAMING"
        case .schemaIDNotAllowed: "SCHEMA_ID_NOT_ALLOWED"
        case .schemaMessageIndex: "SCHEMA_MESSAGE_INDEX"
        case .cloudEventSpecVersion: "CLOUDEVENT_SPECVERSION"
        case .cloudEventAttribute: "CLOUDEVENT_ATTRIBUTE"
        case .cloudEventMalformed: "CLOUDEVENT_MALFORMED"
        case .cloudEventData: "CLOUDEVENT_DATA"
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
        case .metadataTooLarge(let detail): "metadata too large: \(detail)"
        case .invalidThreshold(let value): "threshold \(value) is not strictly between 0 and 1"
        case .schemaRegistryFraming(let detail): "bad Schema Registry framing: \(detail)"
        case .schemaIDNotAllowed(let id): "schema id \(id) is not in the worker's allow-list"
        case .schemaMessageIndex(let path):
            "message index path \(path) is not the request message (ModerationRequest)"
        case .cloudEventSpecVersion(let version): "unsupported CloudEvents specversion \"\(version)\" (only 1.0)"
        case .cloudEventAttribute(let name, let problem): "CloudEvent attribute \(name): \(problem)"
        case .cloudEventMalformed(let detail): "malformed structured CloudEvent: \(detail)"
        case .cloudEventData(let detail): "CloudEvent data: \(detail)"
        }
    }

    /// At most `limit` characters of a caller's value, for error details: the value goes
    /// into the `error-message` header and logs, and a hostile producer must not be able to
    /// make those as large as its own headers.
    static func excerpt(_ value: some StringProtocol, limit: Int = 64) -> String {
        value.count <= limit ? String(value) : String(value.prefix(limit)) + "…"
    }
}
