import CRdKafka

/// An error from the Kafka layer: librdkafka's error code and text, plus what the caller
/// needs to decide what to do (retry, give up, fix configuration).
public struct KafkaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, coarsely, so callers can switch on it without knowing librdkafka codes.
    public enum Kind: String, Sendable, Equatable {
        /// A configuration property was rejected (unknown key, bad value, unreadable file).
        case configuration
        /// No broker answered within the allowed time.
        case brokerUnreachable
        /// A timeout expired before the broker answered.
        case timeout
        /// The client was closed before the operation completed.
        case closed
        /// The broker or the client rejected a message (too large, unknown topic, ...).
        case message
        /// Any other librdkafka error; see `code` and `name`.
        case librdkafka
    }

    public var kind: Kind
    /// librdkafka's `rd_kafka_resp_err_t` value (negative: local errors, positive: broker errors).
    public var code: Int32
    /// librdkafka's symbolic name of `code`, e.g. `_TRANSPORT` or `TOPIC_ALREADY_EXISTS`.
    public var name: String
    /// Human-readable detail: librdkafka's error string plus our context.
    public var message: String
    /// A fatal error leaves the client unusable (e.g. an idempotent producer's fencing); restart it.
    public var isFatal: Bool
    /// A retriable error may succeed when the same operation is tried again.
    public var isRetriable: Bool

    public init(
        kind: Kind, code: Int32 = 0, name: String = "", message: String,
        isFatal: Bool = false, isRetriable: Bool = false
    ) {
        self.kind = kind
        self.code = code
        self.name = name
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
    }

    public var description: String {
        var text = "Kafka error (\(kind.rawValue)"
        if !name.isEmpty { text += ", \(name)" }
        if code != 0 { text += " [\(code)]" }
        text += "): \(message)"
        if isFatal { text += " (fatal)" } else if isRetriable { text += " (retriable)" }
        return text
    }

    static func configuration(_ message: String) -> KafkaError {
        KafkaError(kind: .configuration, message: message)
    }

    static let closed = KafkaError(kind: .closed, message: "the client is closed")

    /// Builds an error from a librdkafka response code, classifying the common cases.
    init(code: rd_kafka_resp_err_t, context: String, detail: String? = nil) {
        let raw = code.rawValue
        let name = String(cString: rd_kafka_err2name(code))
        let text = detail ?? String(cString: rd_kafka_err2str(code))
        let kind: Kind
        switch code {
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
            kind = .timeout
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TRANSPORT,
            RD_KAFKA_RESP_ERR__RESOLVE:
            kind = .brokerUnreachable
        case RD_KAFKA_RESP_ERR__DESTROY:
            kind = .closed
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
            RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
            RD_KAFKA_RESP_ERR_INVALID_MSG, RD_KAFKA_RESP_ERR__QUEUE_FULL:
            kind = .message
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
            kind = .configuration
        default:
            kind = .librdkafka
        }
        let retriable: Bool
        switch code {
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
            RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
            RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
            retriable = true
        default:
            retriable = false
        }
        self.init(
            kind: kind, code: raw, name: name, message: "\(context): \(text)",
            isFatal: code == RD_KAFKA_RESP_ERR__FATAL, isRetriable: retriable)
    }

    /// Builds an error from a librdkafka `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer, context: String) {
        let code = rd_kafka_error_code(error)
        let detail = rd_kafka_error_string(error).map { String(cString: $0) }
        self.init(code: code, context: context, detail: detail)
        isFatal = rd_kafka_error_is_fatal(error) != 0
        isRetriable = rd_kafka_error_is_retriable(error) != 0
        rd_kafka_error_destroy(error)
    }
}
