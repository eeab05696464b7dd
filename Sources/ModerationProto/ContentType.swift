/// The encoding of a request or result value, chosen by the Kafka `content-type` header.
///
/// Results are written with the request's content type, so a JSON producer gets JSON back
/// without configuring anything on the worker.
public enum ContentType: String, Sendable, Hashable, CaseIterable {
    /// Protobuf binary encoding, the default: compact and cheap to decode.
    case protobuf = "application/x-protobuf"
    /// The proto3 JSON mapping (lowerCamelCase names, enums by name), for humans and tools.
    case json = "application/json"

    /// The value to put in the `content-type` header of a message with this encoding.
    public var headerValue: String { rawValue }

    /// Parses a `content-type` header value.
    ///
    /// - An absent header (`nil`) or an empty value means protobuf, the protocol's default,
    ///   so that plain protobuf producers need no headers at all.
    /// - Matching is case-insensitive and ignores parameters (`; charset=utf-8`) and
    ///   surrounding whitespace, as HTTP media types do.
    /// - `application/protobuf` (the IETF name) is accepted as a synonym of
    ///   `application/x-protobuf`.
    /// - Anything else is `ModerationDecodeError.unknownContentType` carrying the raw value,
    ///   which sends the message to the dead-letter topic instead of guessing.
    public static func parse(_ header: String?) throws(ModerationDecodeError) -> ContentType {
        try parse(header, default: .protobuf)
    }

    /// Parses a `content-type` header value, with `defaultType` for records that carry none
    /// (absent or empty), as a worker's `--default-content-type` says.
    ///
    /// Why a per-worker default: Confluent's serializers (and many plain producers) set no
    /// `content-type` header, so the topic's convention has to come from the operator. An
    /// explicit header always wins over the default.
    public static func parse(_ header: String?, default defaultType: ContentType) throws(ModerationDecodeError) -> ContentType {
        guard let header else { return defaultType }
        switch mediaType(of: header) {
        case "": return defaultType
        case "application/x-protobuf", "application/protobuf": return .protobuf
        case "application/json": return .json
        default: throw .unknownContentType(ModerationDecodeError.excerpt(header))
        }
    }

    /// The encoding named by a command-line or environment value: `protobuf` or `json`
    /// (case-insensitive), or a media type `parse` accepts. Nil for anything else.
    public init?(name: String) {
        switch name.lowercased() {
        case "protobuf", "proto": self = .protobuf
        case "json": self = .json
        default:
            guard !name.isEmpty, let parsed = try? ContentType.parse(name) else { return nil }
            self = parsed
        }
    }

    /// The lower-cased media type of a header value, without parameters or surrounding
    /// whitespace: `Application/JSON; charset=utf-8` is `application/json`.
    ///
    /// On bytes, not characters: this runs for every record, and `split`/`lowercased` on
    /// `Character`s cost more than the rest of opening a bare record.
    static func mediaType(of header: String) -> String {
        var utf8 = header.utf8[...]
        if let semicolon = utf8.firstIndex(of: UInt8(ascii: ";")) { utf8 = utf8[..<semicolon] }
        utf8 = utf8.trimmingOptionalWhitespace()
        if !utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) {
            return String(Substring(utf8))
        }
        return String(decoding: utf8.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
