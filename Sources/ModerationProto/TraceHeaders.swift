import KafkaHeaders

/// The W3C trace context of a request (`traceparent`, `tracestate`, `baggage`), validated,
/// and the headers that carry it on to the result and dead letter.
///
/// Copying these headers is what lets a trace continue through the worker even when no
/// tracing backend is configured: the consumer of the results sees the producer's trace.
/// Invalid values are never fatal to the request: they are dropped, as the spec says
/// (an invalid `traceparent` also drops `tracestate`, which belongs to it; `baggage` is
/// independent). Two `traceparent` headers are invalid, since it is unknowable which one is
/// meant.
public struct TraceHeaders: Sendable, Hashable {
    public var traceParent: TraceParent?
    public var traceState: TraceState?
    public var baggage: Baggage?

    public init(traceParent: TraceParent? = nil, traceState: TraceState? = nil, baggage: Baggage? = nil) {
        self.traceParent = traceParent
        self.traceState = traceState
        self.baggage = baggage
    }

    /// Reads the trace headers of a record. `fallbackTraceParent`/`fallbackTraceState` are
    /// used when the record has no `traceparent` header: a CloudEvent's distributed-tracing
    /// extension attributes (`ce_traceparent` headers, or `traceparent` members of a
    /// structured event).
    public static func extract(
        from headers: [KafkaHeader],
        fallbackTraceParent: String? = nil,
        fallbackTraceState: String? = nil
    ) -> TraceHeaders {
        // nil entries: a null or non-UTF-8 header value, which invalidates its kind.
        var traceParents: [String?] = []
        var traceStates: [String?] = []
        var baggages: [String?] = []
        for header in headers {
            switch header.key {
            case TraceParent.headerName: traceParents.append(header.stringValue)
            case TraceState.headerName: traceStates.append(header.stringValue)
            case Baggage.headerName: baggages.append(header.stringValue)
            default: continue
            }
        }
        var result = TraceHeaders()
        if traceParents.isEmpty, let fallbackTraceParent {
            traceParents = [fallbackTraceParent]
            traceStates = fallbackTraceState.map { [$0] } ?? []
        }
        if traceParents.count == 1, let value = traceParents[0], let parent = TraceParent(value) {
            result.traceParent = parent
            let states = traceStates.compactMap { $0 }
            if !states.isEmpty, states.count == traceStates.count, let state = TraceState(states), !state.members.isEmpty {
                result.traceState = state
            }
        }
        // Repeated baggage headers are one list, as HTTP combines repeated fields.
        let bags = baggages.compactMap { $0 }
        if !bags.isEmpty, bags.count == baggages.count {
            result.baggage = Baggage(bags.joined(separator: ","))
        }
        return result
    }

    /// The headers to put on the result (and on a dead letter built from scratch): the valid
    /// ones, normalized as described on each type.
    public var headers: [KafkaHeader] {
        var out: [KafkaHeader] = []
        if let traceParent {
            out.append(KafkaHeader(key: TraceParent.headerName, string: traceParent.headerValue))
            if let traceState { out.append(KafkaHeader(key: TraceState.headerName, string: traceState.headerValue)) }
        }
        if let baggage { out.append(KafkaHeader(key: Baggage.headerName, string: baggage.headerValue)) }
        return out
    }
}
