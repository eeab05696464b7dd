/// Kafka header names of the protocol (see proto/duoguard/moderation/v1/moderation.proto).
///
/// Spelled once here so that the worker, the tests and the tools cannot drift apart on a
/// typo; all names are lower-case, as Kafka header names are case-sensitive.
public enum ModerationHeader {
    /// Encoding of the value: `application/x-protobuf` (default) or `application/json`.
    public static let contentType = "content-type"
    /// Opaque caller value, copied onto the result message.
    public static let correlationID = "correlation-id"
    /// Topic to produce the result to instead of the worker's output topic.
    public static let replyTo = "reply-to"
    /// RFC 3339 time or epoch milliseconds after which the result is no longer wanted.
    public static let deadline = "deadline"

    /// Dead-letter header: `ModerationDecodeError.code`.
    public static let errorCode = "error-code"
    /// Dead-letter header: human-readable reason.
    public static let errorMessage = "error-message"
    /// Dead-letter header: topic of the poison message.
    public static let sourceTopic = "source-topic"
    /// Dead-letter header: partition of the poison message (decimal).
    public static let sourcePartition = "source-partition"
    /// Dead-letter header: offset of the poison message (decimal).
    public static let sourceOffset = "source-offset"
    /// Dead-letter header: the topic a result could not be written to (`UNDELIVERABLE`) or
    /// that `reply-to` named (`REPLY_TO_DENIED`, `REPLY_TO_INVALID`).
    public static let errorTargetTopic = "error-target-topic"
    /// Dead-letter header: what of the request record was left out to fit the dead letter
    /// into the broker's size limit (`value`, or `key,value,headers`); absent when whole.
    public static let deadLetterOmitted = "dead-letter-omitted"
}
