import KafkaHeaders

/// What surrounds a request on the wire, opened: the request bytes and their encoding, and
/// the conventions of the pipeline it came through (Schema Registry framing, CloudEvent
/// attributes, W3C trace context).
///
/// The worker calls `open` first for every record, then `decodeRequest`; every failure is a
/// `ModerationDecodeError` whose `code` goes into the dead-letter headers, exactly as for
/// the bare protocol. Order of unwrapping:
///
/// 1. `content-type`: `application/cloudevents+json` means a structured CloudEvent, whose
///    data is the request; otherwise a `ce_specversion` header means a binary-mode
///    CloudEvent; otherwise a plain record. The request encoding is the `content-type`
///    (or the event's `datacontenttype`), else `options.defaultContentType`.
/// 2. Schema Registry framing: request bytes starting with 0x00 are framed; the frame is
///    checked (schema id allow-list, message index of the request) and stripped.
/// 3. Trace context: `traceparent`/`tracestate`/`baggage` headers (or the event's tracing
///    extension) are validated; invalid ones are dropped, never fatal.
public struct RequestEnvelope: Sendable {
    /// The request bytes, unwrapped (no framing, no event around them).
    public var payload: [UInt8]
    /// Their encoding: use it to decode, and to encode the result (the answer comes back in
    /// the request's encoding).
    public var contentType: ContentType
    /// The Schema Registry frame the value came in, if any.
    public var schemaFrame: SchemaRegistryFrame?
    /// The CloudEvent the request came in, if any.
    public var cloudEvent: CloudEvent?
    /// The valid trace headers, to copy onto the result.
    public var trace: TraceHeaders

    public init(
        payload: [UInt8], contentType: ContentType, schemaFrame: SchemaRegistryFrame? = nil,
        cloudEvent: CloudEvent? = nil, trace: TraceHeaders = TraceHeaders()
    ) {
        self.payload = payload
        self.contentType = contentType
        self.schemaFrame = schemaFrame
        self.cloudEvent = cloudEvent
        self.trace = trace
    }

    /// Opens a record's value (nil: a tombstone, read as an empty value) and headers.
    public static func open(
        value: [UInt8]?,
        headers: [KafkaHeader],
        options: EnvelopeOptions = EnvelopeOptions()
    ) throws(ModerationDecodeError) -> RequestEnvelope {
        let value = value ?? []
        let contentTypeHeader = headers.last(named: ModerationHeader.contentType)
        var declared: String?
        if let contentTypeHeader, let raw = contentTypeHeader.value {
            guard let text = String(validating: raw, as: UTF8.self) else {
                throw .unknownContentType("(not UTF-8: \(raw.count) bytes)")
            }
            declared = text
        }

        var envelope: RequestEnvelope
        let mediaType = declared.map(ContentType.mediaType(of:)) ?? ""
        if CloudEvent.isStructured(mediaType: mediaType) {
            guard mediaType == CloudEvent.structuredContentType else {
                throw .unknownContentType(ModerationDecodeError.excerpt(declared ?? ""))
            }
            let (event, data, contentType) = try CloudEvent.structured(value, defaultContentType: options.defaultContentType)
            envelope = RequestEnvelope(payload: data, contentType: contentType, cloudEvent: event)
        } else {
            let event = try CloudEvent.binary(headers: headers)
            let contentType = try ContentType.parse(declared, default: options.defaultContentType)
            envelope = RequestEnvelope(payload: value, contentType: contentType, cloudEvent: event)
        }

        if SchemaRegistryFrame.isFramed(envelope.payload) {
            let (frame, start) = try SchemaRegistryFrame.parse(envelope.payload, contentType: envelope.contentType)
            if let allowed = options.allowedSchemaIDs, !allowed.contains(frame.schemaID) {
                throw .schemaIDNotAllowed(frame.schemaID)
            }
            if let indexes = frame.messageIndexes, indexes != options.requestMessageIndexes {
                throw .schemaMessageIndex(indexes)
            }
            envelope.schemaFrame = frame
            envelope.payload = Array(envelope.payload[start...])
        }

        envelope.trace = TraceHeaders.extract(
            from: headers,
            fallbackTraceParent: envelope.cloudEvent?.traceParent,
            fallbackTraceState: envelope.cloudEvent?.traceState)
        return envelope
    }

    /// Decodes the request (`ModerationCodec.decodeRequest`). A request without an `id` that
    /// came as a CloudEvent takes the event's `id`: it is the producer's own identifier
    /// for the request, so the result can be matched without the Kafka coordinates.
    public func decodeRequest() throws(ModerationDecodeError) -> ModerationRequest {
        var request = try ModerationCodec.decodeRequest(payload, contentType: contentType)
        if request.id.isEmpty, let cloudEvent { request.id = cloudEvent.id }
        return request
    }
}
