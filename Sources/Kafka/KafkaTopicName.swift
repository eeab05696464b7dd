import CRdKafka

/// Kafka's rules for topic names, checked locally.
///
/// Why here: librdkafka does not check names; an invalid one costs a metadata round trip and
/// fails only in the delivery report. A name that breaks these rules is rejected by every
/// Kafka broker, so failing at once (permanent `TOPIC_EXCEPTION`, as the broker would say)
/// loses nothing and makes a hostile `reply-to` cheap to refuse.
public enum KafkaTopicName {
    /// Apache Kafka's limit (`Topic.MAX_NAME_LENGTH`).
    public static let maxLength = 249

    /// Why `name` is not a valid topic name, or `nil` when it is: 1 to 249 characters from
    /// `[a-zA-Z0-9._-]`, and not `.` or `..`.
    public static func problem(with name: String) -> String? {
        let bytes = name.utf8
        if bytes.isEmpty { return "the topic name is empty" }
        if name == "." || name == ".." { return "'\(name)' is not allowed as a topic name" }
        if bytes.count > maxLength {
            return "the topic name is \(bytes.count) bytes long (at most \(maxLength))"
        }
        if let bad = bytes.first(where: { !isLegal($0) }) {
            return "the topic name contains byte 0x\(String(bad, radix: 16)) (only a-z, A-Z, 0-9, '.', '_', '-')"
        }
        return nil
    }

    /// Throws a permanent `TOPIC_EXCEPTION` error (kind `.message`) when `name` is invalid.
    public static func validate(_ name: String) throws(KafkaError) {
        guard let problem = problem(with: name) else { return }
        throw KafkaError(
            kind: .message, code: RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION.rawValue, name: "TOPIC_EXCEPTION",
            message: "invalid topic name: \(problem)", disposition: .permanent)
    }

    private static func isLegal(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}
