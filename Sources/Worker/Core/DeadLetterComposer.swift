import Kafka
import ModerationProto

/// Builds dead letters: the request record as it arrived (key, value, headers) plus headers
/// saying why and where it came from.
///
/// A dead letter can itself be refused (a 1 MB request plus headers over `message.max.bytes`),
/// so it comes in smaller forms: the sender tries `.whole`, then `.withoutValue`, then
/// `.coordinatesOnly`. Nothing is lost by cutting: the input record stays in its topic, and
/// the source headers say exactly where.
struct DeadLetterComposer: Sendable {
    /// How much of the request a dead letter carries.
    enum Form: Int, Sendable {
        /// Key, value and headers as they arrived.
        case whole
        /// Key and headers; the value left out (`dead-letter-omitted: value`).
        case withoutValue
        /// Only our error and source headers (`dead-letter-omitted: key,value,headers`).
        case coordinatesOnly

        /// The next smaller form, if any.
        var smaller: Form? { Form(rawValue: rawValue + 1) }
    }

    /// The dead-letter topic.
    let topic: String

    /// Longest `error-message`/`error-target-topic` header value written: they can carry
    /// requester-chosen text (a topic name), which must not make the minimal form large.
    static let maxHeaderText = 1_024

    func compose(for source: KafkaConsumerMessage, reason: DeadLetterReason, form: Form = .whole) -> KafkaProducerMessage {
        var headers: [KafkaHeader] = form == .coordinatesOnly ? [] : source.headers
        headers.append(KafkaHeader(key: ModerationHeader.errorCode, string: reason.code))
        headers.append(KafkaHeader(key: ModerationHeader.errorMessage, string: Self.clipped(reason.message)))
        if let target = reason.targetTopic {
            headers.append(KafkaHeader(key: ModerationHeader.errorTargetTopic, string: Self.clipped(target)))
        }
        headers.append(KafkaHeader(key: ModerationHeader.sourceTopic, string: source.topic))
        headers.append(KafkaHeader(key: ModerationHeader.sourcePartition, string: "\(source.partition)"))
        headers.append(KafkaHeader(key: ModerationHeader.sourceOffset, string: "\(source.offset)"))
        switch form {
        case .whole:
            return KafkaProducerMessage(topic: topic, key: source.key, value: source.value, headers: headers)
        case .withoutValue:
            headers.append(KafkaHeader(key: ModerationHeader.deadLetterOmitted, string: "value"))
            return KafkaProducerMessage(topic: topic, key: source.key, value: nil, headers: headers)
        case .coordinatesOnly:
            headers.append(KafkaHeader(key: ModerationHeader.deadLetterOmitted, string: "key,value,headers"))
            return KafkaProducerMessage(topic: topic, key: nil, value: nil, headers: headers)
        }
    }

    /// At most `maxHeaderText` UTF-8 bytes, cut at a character boundary, marked with "…".
    static func clipped(_ text: String) -> String {
        guard text.utf8.count > maxHeaderText else { return text }
        var out = ""
        for character in text {
            if out.utf8.count + character.utf8.count > maxHeaderText - 3 { break }
            out.append(character)
        }
        return out + "…"
    }
}
