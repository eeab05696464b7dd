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
        guard let header else { return .protobuf }
        let mediaType = header.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
            .first.map { $0.trimmingASCIIWhitespace().lowercased() } ?? ""
        switch mediaType {
        case "": return .protobuf
        case "application/x-protobuf", "application/protobuf": return .protobuf
        case "application/json": return .json
        default: throw .unknownContentType(header)
        }
    }
}

extension Substring {
    /// Trims spaces and tabs, the only whitespace HTTP-style header values may carry, without
    /// pulling in Foundation's character sets.
    func trimmingASCIIWhitespace() -> Substring {
        var slice = self
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return slice
    }
}
