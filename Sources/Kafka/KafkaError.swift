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
        /// The client was closed (or is closing) before the operation could run or complete.
        case closed
        /// The broker or the client rejected a message (too large, unknown topic, ...).
        case message
        /// Any other librdkafka error; see `code` and `name`.
        case librdkafka
    }

    /// What a caller should do about the error: the one question a producer of results must
    /// answer for every failed delivery (see `KafkaErrorDisposition` for the table).
    public enum Disposition: String, Sendable, Equatable {
        /// The cluster or the link is the problem, not the request: a later attempt can succeed
        /// (timeouts, transport errors, leader changes, a full local queue).
        case retriable
        /// No retry can fix it (invalid or unknown topic, authorization, message too large,
        /// client closing): give up on this message and move on.
        case permanent
        /// The client itself is unusable (librdkafka raised a fatal error, e.g. an idempotent
        /// producer's lost sequence): stop, and let a new process start a new client.
        case fatal
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
    /// Retry, give up on the message, or stop the client. Derived from `code` through
    /// `KafkaErrorDisposition` for librdkafka errors; `.fatal` whenever `isFatal`.
    public var disposition: Disposition

    /// `disposition` defaults to `.fatal` when `isFatal`, else `.retriable` when `isRetriable`,
    /// else `.permanent`.
    public init(
        kind: Kind, code: Int32 = 0, name: String = "", message: String,
        isFatal: Bool = false, isRetriable: Bool = false, disposition: Disposition? = nil
    ) {
        self.kind = kind
        self.code = code
        self.name = name
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
        self.disposition = disposition ?? (isFatal ? .fatal : isRetriable ? .retriable : .permanent)
    }

    public var description: String {
        var text = "Kafka error (\(kind.rawValue)"
        if !name.isEmpty { text += ", \(name)" }
        if code != 0 { text += " [\(code)]" }
        text += "): \(message)"
        switch disposition {
        case .fatal: text += " (fatal)"
        case .retriable: text += " (retriable)"
        case .permanent: text += " (permanent)"
        }
        return text
    }

    static func configuration(_ message: String) -> KafkaError {
        KafkaError(kind: .configuration, message: message)
    }

    /// Thrown by every call made once the client's `close()` has begun (or after it ended):
    /// the call did not reach librdkafka.
    static let closed = KafkaError(kind: .closed, message: "the client is closed", disposition: .permanent)

    /// Marks the error fatal (librdkafka raised a fatal error on the client).
    mutating func markFatal() {
        isFatal = true
        isRetriable = false
        disposition = .fatal
    }

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
        case RD_KAFKA_RESP_ERR__DESTROY, RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
            kind = .closed
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
            RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
            RD_KAFKA_RESP_ERR_INVALID_MSG, RD_KAFKA_RESP_ERR__QUEUE_FULL,
            RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
            RD_KAFKA_RESP_ERR_INVALID_RECORD, RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
            kind = .message
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
            kind = .configuration
        default:
            kind = .librdkafka
        }
        let disposition = KafkaErrorDisposition.of(raw)
        self.init(
            kind: kind, code: raw, name: name, message: "\(context): \(text)",
            isFatal: disposition == .fatal, isRetriable: disposition == .retriable, disposition: disposition)
    }

    /// Builds an error from a librdkafka `rd_kafka_error_t` and destroys it. librdkafka's own
    /// fatal and retriable flags win over the code table.
    init(consuming error: OpaquePointer, context: String) {
        let code = rd_kafka_error_code(error)
        let detail = rd_kafka_error_string(error).map { String(cString: $0) }
        self.init(code: code, context: context, detail: detail)
        if rd_kafka_error_is_fatal(error) != 0 {
            markFatal()
        } else if rd_kafka_error_is_retriable(error) != 0 {
            isRetriable = true
            disposition = .retriable
        }
        rd_kafka_error_destroy(error)
    }
}
