import Kafka
import ModerationProto

/// Why a request went to the dead-letter topic: a stable machine-readable `code` (the
/// `error-code` header; consumers of the dead-letter topic match on it, so never change the
/// strings) and a human-readable `message` (the `error-message` header).
public struct DeadLetterReason: Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    /// The topic a result could not be written to (`error-target-topic`), for `UNDELIVERABLE`
    /// and refused `reply-to`s.
    public var targetTopic: String?

    public init(code: String, message: String, targetTopic: String? = nil) {
        self.code = code
        self.message = message
        self.targetTopic = targetTopic
    }

    public var description: String { "\(code): \(message)" }

    /// The request could not be decoded or is invalid (see `ModerationDecodeError.code`).
    public static func invalid(_ error: ModerationDecodeError) -> Self {
        Self(code: error.code, message: error.description)
    }

    /// The record (key + value + headers) is larger than `--max-request-bytes`; it was not decoded.
    public static func requestTooLarge(bytes: Int, limit: Int) -> Self {
        Self(code: "REQUEST_TOO_LARGE", message: "record is \(bytes) bytes (key, value and headers), limit is \(limit)")
    }

    /// librdkafka could not read the record(s) at the source offset and skipped them (see
    /// `KafkaConsumerMessage.unreadable`): the dead letter records the coordinates (it has no
    /// key or value), so nothing is committed past a request silently.
    public static func unreadableRecord(_ record: KafkaConsumerMessage.UnreadableRecord) -> Self {
        Self(code: "UNREADABLE_RECORD", message: "the consumer could not read the record(s) at this offset (\(record.code)): \(record.message)")
    }

    /// `reply-to` names a topic the operator's allow-list does not contain.
    public static func replyToDenied(_ topic: String) -> Self {
        Self(code: "REPLY_TO_DENIED", message: "reply-to topic is not allowed by --reply-to-allow (the input and dead-letter topics never are)", targetTopic: topic)
    }

    /// `reply-to` names an allowed topic the cluster does not have (the worker never creates one).
    public static func replyToMissing(_ topic: String) -> Self {
        Self(code: "REPLY_TO_NOT_FOUND", message: "reply-to topic does not exist (the worker does not create topics)", targetTopic: topic)
    }

    /// `reply-to` is not a valid Kafka topic name.
    public static func replyToInvalid(_ topic: String, _ why: String) -> Self {
        Self(code: "REPLY_TO_INVALID", message: "reply-to is not a valid topic name: \(why)", targetTopic: topic)
    }

    /// In window mode the text has more windows than `--max-windows`.
    public static func tooManyWindows(_ windows: Int, limit: Int) -> Self {
        Self(code: "TOO_MANY_WINDOWS", message: "text has \(windows) windows, limit is \(limit) (--max-windows)")
    }

    /// The result could not be encoded (never expected; kept so nothing is silently dropped).
    public static func resultUnencodable(_ detail: String) -> Self {
        Self(code: "RESULT_UNENCODABLE", message: "the result could not be encoded: \(detail)")
    }

    /// The broker refused the result for good (invalid or unknown topic, authorization,
    /// too large): retrying cannot help, so the request is dead-lettered instead.
    public static func undeliverable(topic: String, error: KafkaError) -> Self {
        Self(code: "UNDELIVERABLE", message: "result refused by the broker: \(error.name.isEmpty ? "\(error.kind)" : error.name): \(error.message)", targetTopic: topic)
    }
}
