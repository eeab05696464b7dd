import Tracing

/// A tracer whose spans end off the data path: every call goes to `inner` as is, except
/// `end`, whose instant is taken at once and which is handed to `inner` through a bounded
/// `SpanEndQueue` (dropped and counted when it is full). swift-otel's span processor is
/// non-blocking by design, but its intake is an unbounded stream and its drops are only
/// logged; this layer makes the bound and the count ours, whatever the exporter behind it.
/// `ModerationWorker` wraps the process's bootstrapped tracer in it (not a no-op one).
public struct QueuedEndTracer: Tracer {
    public typealias Span = QueuedEndSpan

    let inner: any Tracer
    let queue: SpanEndQueue

    public init(inner: any Tracer, queue: SpanEndQueue) {
        self.inner = inner
        self.queue = queue
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> QueuedEndSpan {
        QueuedEndSpan(
            inner: inner.startAnySpan(
                operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line),
            queue: queue)
    }

    public func forceFlush() { inner.forceFlush() }

    public func extract<Carrier, Extract>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract: Extractor, Extract.Carrier == Carrier {
        inner.extract(carrier, into: &context, using: extractor)
    }

    public func inject<Carrier, Inject>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        inner.inject(context, into: &carrier, using: injector)
    }
}

/// A span of `QueuedEndTracer`: the inner span, ended through the queue.
public struct QueuedEndSpan: Tracing.Span {
    let inner: any Tracing.Span
    let queue: SpanEndQueue

    public var context: ServiceContext { inner.context }
    public var operationName: String {
        get { inner.operationName }
        nonmutating set { inner.operationName = newValue }
    }
    public func setStatus(_ status: SpanStatus) { inner.setStatus(status) }
    public func addEvent(_ event: SpanEvent) { inner.addEvent(event) }
    public func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        inner.recordError(error, attributes: attributes, at: instant())
    }
    public var attributes: SpanAttributes {
        get { inner.attributes }
        nonmutating set { inner.attributes = newValue }
    }
    public var isRecording: Bool { inner.isRecording }
    public func addLink(_ link: SpanLink) { inner.addLink(link) }

    /// Takes the end instant now; the inner span ends on the queue at that instant.
    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let at = instant()
        let inner = inner
        queue.enqueue { inner.end(at: at) }
    }
}
