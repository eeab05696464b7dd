import Kafka
import ModerationProto
import Tracing

/// The worker's spans, through swift-distributed-tracing (no-op unless a tracer is
/// bootstrapped: `InstrumentationSystem.bootstrap`, or `WorkerConfiguration.tracer`), named
/// and attributed per the OpenTelemetry messaging conventions for Kafka:
///
/// - `process <topic>` (consumer) per request, child of the producer's context extracted
///   from the request headers (W3C `traceparent` with an OpenTelemetry tracer), from intake
///   to the acknowledgement of its answer;
/// - `inference` (internal) per batch, linked to the process span of each of its requests,
///   with the batch's requests and tokens;
/// - `send <topic>` (producer) per record written, child of the process span; its context is
///   injected into the record's headers, so the trace continues downstream.
struct WorkerTracing: Sendable {
    let tracer: any Tracer
    let group: String

    /// The process span of `message`, child of the trace context of its envelope (`trace`,
    /// from `RequestEnvelope.open`: W3C headers, else a binary CloudEvent's `ce_traceparent`,
    /// else a structured CloudEvent's `traceparent` member), or of its headers alone when the
    /// envelope could not be opened.
    func process(_ message: KafkaConsumerMessage, trace: TraceHeaders? = nil) -> any Span {
        var context = ServiceContext.topLevel
        let carrier = trace.map { Self.carrier(message.headers, trace: $0) } ?? Self.validatedTraceHeaders(message.headers)
        tracer.extract(carrier, into: &context, using: KafkaHeaderCarrier())
        let span = tracer.startAnySpan("process \(message.topic)", context: context, ofKind: .consumer)
        span.attributes["messaging.system"] = "kafka"
        span.attributes["messaging.operation.type"] = "process"
        span.attributes["messaging.operation.name"] = "process"
        span.attributes["messaging.destination.name"] = message.topic
        span.attributes["messaging.destination.partition.id"] = "\(message.partition)"
        span.attributes["messaging.consumer.group.name"] = group
        span.attributes["messaging.kafka.offset"] = Int(message.offset)
        span.attributes["messaging.message.body.size"] = message.value?.count ?? 0
        return span
    }

    func inference(_ batch: [WorkItem], tokens: Int) -> any Span {
        let span = tracer.startAnySpan("inference", context: .topLevel, ofKind: .internal)
        span.attributes["duoguard.batch.requests"] = batch.count
        span.attributes["duoguard.batch.tokens"] = tokens
        span.attributes["messaging.batch.message_count"] = batch.count
        for item in batch {
            if let process = item.span { span.addLink(SpanLink(context: process.context, attributes: [:])) }
        }
        return span
    }

    /// Starts the `send` span of `message` (a result or dead letter of the request whose
    /// process span is `parent`) and writes its context into the record's headers.
    func send(_ message: inout KafkaProducerMessage, parent: (any Span)?) -> any Span {
        let span = tracer.startAnySpan("send \(message.topic)", context: parent?.context ?? .topLevel, ofKind: .producer)
        span.attributes["messaging.system"] = "kafka"
        span.attributes["messaging.operation.type"] = "send"
        span.attributes["messaging.operation.name"] = "send"
        span.attributes["messaging.destination.name"] = message.topic
        tracer.inject(span.context, into: &message.headers, using: KafkaHeaderCarrier())
        return span
    }

    /// The headers the tracer extracts from: W3C `traceparent`/`tracestate` only when valid
    /// (`TraceHeaders`: a binary-mode CloudEvent's `ce_traceparent` when there is none), so an
    /// invalid one quietly starts a new trace, as the W3C spec says, instead of making the
    /// tracer log each such record. Used when the envelope could not be opened.
    static func validatedTraceHeaders(_ headers: [KafkaHeader]) -> [KafkaHeader] {
        guard headers.contains(where: { w3c.contains($0.key) || $0.key == "ce_traceparent" }) else { return headers }
        let valid = TraceHeaders.extract(
            from: headers, fallbackTraceParent: headers.last(named: "ce_traceparent")?.stringValue,
            fallbackTraceState: headers.last(named: "ce_tracestate")?.stringValue)
        return carrier(headers, trace: valid)
    }

    private static let w3c: Set<String> = [TraceParent.headerName, TraceState.headerName]

    /// `headers` with their W3C trace headers replaced by the (validated) `trace`: what the
    /// tracer extracts from. Other headers stay, for tracers with their own keys.
    static func carrier(_ headers: [KafkaHeader], trace: TraceHeaders) -> [KafkaHeader] {
        headers.filter { !w3c.contains($0.key) } + trace.headers.filter { w3c.contains($0.key) }
    }

    /// Marks a span failed with the OpenTelemetry `error.type` (a dead-letter code, a status,
    /// a librdkafka error name).
    static func fail(_ span: (any Span)?, _ type: String) {
        guard let span else { return }
        span.attributes["error.type"] = type
        span.setStatus(SpanStatus(code: .error, message: type))
    }
}

/// Reads and writes trace context in Kafka record headers; writing replaces a header of the
/// same name (the request's `traceparent` copied onto a result gives way to the send span's).
struct KafkaHeaderCarrier: Extractor, Injector {
    func extract(key: String, from carrier: [KafkaHeader]) -> String? {
        carrier.last(named: key)?.stringValue
    }

    func inject(_ value: String, forKey key: String, into carrier: inout [KafkaHeader]) {
        carrier.removeAll { $0.key == key }
        carrier.append(KafkaHeader(key: key, string: value))
    }
}
