/// A Kafka record header as the envelope functions see it: a name and a byte value, `nil`
/// for a header with a null value (Kafka allows that).
///
/// ModerationProto knows nothing about the Kafka client; the worker makes its own header
/// type conform to `RecordHeaderProtocol` (one empty extension) and passes its headers
/// as they are, and turns the `RecordHeader`s returned for results into its own type.
public struct RecordHeader: RecordHeaderProtocol, Sendable, Hashable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    /// A header whose value is the UTF-8 bytes of `string`.
    public init(key: String, string: String) {
        self.init(key: key, value: Array(string.utf8))
    }
}

/// What the envelope functions need of a header: its name and value. `Kafka.KafkaHeader`
/// has exactly these two properties.
public protocol RecordHeaderProtocol {
    var key: String { get }
    var value: [UInt8]? { get }
}

extension RecordHeader {
    /// The value as text when it is valid UTF-8; nil for a null value or invalid bytes.
    var utf8Value: String? {
        value.flatMap { String(validating: $0, as: UTF8.self) }
    }
}

extension Array where Element == RecordHeader {
    /// The last header named `key` (Kafka allows repeats; the last one wins, as in the worker).
    func lastHeader(named key: String) -> Element? {
        last(where: { $0.key == key })
    }
}
