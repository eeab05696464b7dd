/// How a worker reads the envelope around request values: the conventions of the topic it
/// consumes, set by the operator (worker flags in parentheses).
public struct EnvelopeOptions: Sendable, Hashable {
    /// Encoding of values that carry no `content-type` header (`--default-content-type`).
    /// Default: protobuf, the protocol's default. Set JSON for topics written by Confluent's
    /// JSON Schema serializer or any producer that sends JSON without headers.
    public var defaultContentType: ContentType
    /// Schema ids accepted in Schema Registry framing (`--schema-ids 12,13`); nil accepts
    /// any id. Default: nil. Unframed values are not affected: framing stays optional.
    public var allowedSchemaIDs: Set<UInt32>?
    /// The message-index path that names ModerationRequest in the registered schema.
    /// Default: `[0]`, its place in moderation.proto (the first message of the file), which
    /// is what a producer using the project's .proto registers.
    public var requestMessageIndexes: [Int32]

    public init(
        defaultContentType: ContentType = .protobuf,
        allowedSchemaIDs: Set<UInt32>? = nil,
        requestMessageIndexes: [Int32] = [0]
    ) {
        self.defaultContentType = defaultContentType
        self.allowedSchemaIDs = allowedSchemaIDs
        self.requestMessageIndexes = requestMessageIndexes
    }

    /// Parses a `--schema-ids` value: decimal ids separated by commas (spaces allowed), each
    /// 0...4294967295. Nil when any part is not such a number or the list is empty.
    public static func parseSchemaIDs(_ text: String) -> Set<UInt32>? {
        var ids = Set<UInt32>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = part.trimmingASCIIWhitespace()
            guard !trimmed.isEmpty, trimmed.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  let id = UInt32(trimmed)
            else { return nil }
            ids.insert(id)
        }
        return ids.isEmpty ? nil : ids
    }
}
