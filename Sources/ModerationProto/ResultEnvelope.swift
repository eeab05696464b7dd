import KafkaHeaders
import Foundation

/// A result value and the headers to send it with, wrapped as `ResultEnvelopeOptions` say:
/// the counterpart of `RequestEnvelope.open` on the way out.
///
/// Headers: `content-type` (always; inside the CloudEvent headers when those are on), the
/// request's valid trace headers, and the binary-mode CloudEvent attributes when
/// configured. The worker adds its own protocol headers (`correlation-id`) after these.
public struct ResultEnvelope: Sendable, Hashable {
    public var value: [UInt8]
    public var headers: [KafkaHeader]

    public init(value: [UInt8], headers: [KafkaHeader]) {
        self.value = value
        self.headers = headers
    }

    /// Wraps an encoded result.
    ///
    /// - Parameters:
    ///   - encoded: the result, encoded with `contentType` (`ModerationCodec.encodeResult`).
    ///   - requestID: the result's `request_id` (the CloudEvent subject).
    ///   - eventID: the request's Kafka position, `<topic>/<partition>/<offset>` (the
    ///     CloudEvent id; see `CloudEventOutput`).
    ///   - trace: the request envelope's trace headers, copied on.
    ///   - time: when the result was made (`ce_time`).
    public static func seal(
        _ encoded: [UInt8],
        contentType: ContentType,
        requestID: String,
        eventID: String,
        trace: TraceHeaders,
        options: ResultEnvelopeOptions,
        time: Date = Date()
    ) -> ResultEnvelope {
        var value = encoded
        if let schemaID = options.schemaID {
            let frame = SchemaRegistryFrame(
                schemaID: schemaID, messageIndexes: contentType == .protobuf ? options.resultMessageIndexes : nil)
            value = frame.framing(encoded)
        }
        var headers: [KafkaHeader]
        if let cloudEvents = options.cloudEvents {
            headers = cloudEvents.headers(id: eventID, subject: requestID, contentType: contentType, time: time)
        } else {
            headers = [KafkaHeader(key: ModerationHeader.contentType, string: contentType.headerValue)]
        }
        headers.append(contentsOf: trace.headers)
        return ResultEnvelope(value: value, headers: headers)
    }
}
