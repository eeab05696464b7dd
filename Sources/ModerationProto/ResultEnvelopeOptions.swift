/// How a worker wraps the results it produces, for the consumers of its output topic
/// (worker flags in parentheses). The default wraps nothing: bare values with a
/// `content-type` header, as before.
public struct ResultEnvelopeOptions: Sendable, Hashable {
    /// Frame results for Confluent deserializers with this Schema Registry id
    /// (`--result-schema-id`); nil: no framing. Default: nil. The id must be the one the
    /// registry gave moderation.proto (protobuf results) or the result's JSON Schema (JSON
    /// results) under the output topic's subject.
    public var schemaID: UInt32?
    /// The message-index path of ModerationResult in the registered schema. Default: `[1]`,
    /// its place in moderation.proto (the second message of the file).
    public var resultMessageIndexes: [Int32]
    /// Write results as binary-mode CloudEvents (`--cloudevents-output`); nil: plain
    /// results. Default: nil.
    public var cloudEvents: CloudEventOutput?

    public init(schemaID: UInt32? = nil, resultMessageIndexes: [Int32] = [1], cloudEvents: CloudEventOutput? = nil) {
        self.schemaID = schemaID
        self.resultMessageIndexes = resultMessageIndexes
        self.cloudEvents = cloudEvents
    }
}
