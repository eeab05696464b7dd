/// A Kafka record header. Values are bytes; `nil` is a header with a null value.
///
/// The one header type of the project: the Kafka client sends and receives it, and the
/// envelope layer (ModerationProto: content type, CloudEvents, trace context) reads and writes
/// it. It lives in a target of its own, with no librdkafka, so that the envelope layer can use
/// it without depending on the Kafka client (there used to be a second, identical
/// `RecordHeader`, a protocol to copy one into the other, and twin helpers).
public struct KafkaHeader: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    public init(key: String, string: String) {
        self.init(key: key, value: Array(string.utf8))
    }

    /// The value as UTF-8 text, when it is valid UTF-8.
    public var stringValue: String? {
        value.flatMap { String(validating: $0, as: UTF8.self) }
    }
}

extension Array where Element == KafkaHeader {
    /// The value of the last header named `key` (Kafka allows repeats; the last one wins).
    public func last(named key: String) -> KafkaHeader? {
        last(where: { $0.key == key })
    }
}
