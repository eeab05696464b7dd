import KafkaHeaders
import Foundation

/// The context attributes of a request that arrived as a CloudEvent (CloudEvents 1.0, Kafka
/// protocol binding), in either mode:
///
/// - **Binary mode**: the attributes are headers named `ce_<attribute>` (`ce_specversion`,
///   `ce_id`, `ce_source`, `ce_type`, optional `ce_subject`, `ce_time`, ...), the value is
///   the event data as it is, and `content-type` is the data's content type.
/// - **Structured mode**: `content-type: application/cloudevents+json` and the value is the
///   whole event as a JSON object, with the data in `data` (a JSON value) or `data_base64`
///   (bytes, e.g. protobuf, with `datacontenttype` saying which).
///
/// Required: `specversion` exactly `1.0`, and non-empty `id`, `source` and `type`. An
/// optional `time` must be RFC 3339. Everything else (extensions) is accepted and ignored,
/// except the distributed-tracing extension (`traceparent`, `tracestate`), which the
/// envelope reads when the record has no trace headers of its own.
public struct CloudEvent: Sendable, Hashable {
    /// How the event was carried.
    public enum Mode: String, Sendable, Hashable {
        case binary
        case structured
    }

    /// The only CloudEvents version this reads and writes.
    public static let specVersion = "1.0"
    /// `content-type` of a structured-mode event in JSON.
    public static let structuredContentType = "application/cloudevents+json"
    /// Prefix of binary-mode attribute headers.
    public static let headerPrefix = "ce_"
    /// Deepest nesting accepted in a structured event (the event object is level 1). The
    /// request's own JSON needs 3 (`data` → `metadata`); extensions may nest a little more.
    public static let maxStructuredDepth = 32

    public var mode: Mode
    public var id: String
    public var source: String
    public var type: String
    public var subject: String?
    /// RFC 3339, as received (validated).
    public var time: String?
    /// The data's media type as the event states it (`content-type` in binary mode).
    public var dataContentType: String?
    public var dataSchema: String?
    /// Distributed-tracing extension attributes, when present.
    public var traceParent: String?
    public var traceState: String?

    public init(
        mode: Mode, id: String, source: String, type: String, subject: String? = nil, time: String? = nil,
        dataContentType: String? = nil, dataSchema: String? = nil, traceParent: String? = nil, traceState: String? = nil
    ) {
        self.mode = mode
        self.id = id
        self.source = source
        self.type = type
        self.subject = subject
        self.time = time
        self.dataContentType = dataContentType
        self.dataSchema = dataSchema
        self.traceParent = traceParent
        self.traceState = traceState
    }

    /// Whether a `content-type` header value announces a structured-mode event (any
    /// `application/cloudevents...` media type; only `+json` is then accepted).
    static func isStructured(mediaType: String) -> Bool {
        mediaType.hasPrefix("application/cloudevents")
    }

    // MARK: Binary mode

    /// The event of a binary-mode record, or nil when the record has no `ce_specversion`
    /// header (it is not a CloudEvent). One pass over the headers (the last of a name wins).
    static func binary(headers: [KafkaHeader]) throws(ModerationDecodeError) -> CloudEvent? {
        var version, id, source, type, subject, time, dataSchema, traceParent, traceState: KafkaHeader?
        var contentType: KafkaHeader?
        for header in headers {
            switch header.key {
            case "ce_specversion": version = header
            case "ce_id": id = header
            case "ce_source": source = header
            case "ce_type": type = header
            case "ce_subject": subject = header
            case "ce_time": time = header
            case "ce_dataschema": dataSchema = header
            case "ce_traceparent": traceParent = header
            case "ce_tracestate": traceState = header
            case ModerationHeader.contentType: contentType = header
            default: continue
            }
        }
        guard let version else { return nil }
        func text(_ header: KafkaHeader?, _ name: String, required: Bool) throws(ModerationDecodeError) -> String? {
            guard let header else {
                if required { throw .cloudEventAttribute(name: name, problem: "required, absent (header ce_\(name))") }
                return nil
            }
            guard let value = header.stringValue else {
                throw .cloudEventAttribute(name: name, problem: header.value == nil ? "null header value" : "not UTF-8")
            }
            if required, value.isEmpty { throw .cloudEventAttribute(name: name, problem: "required, empty") }
            return value
        }
        let specVersion = try text(version, "specversion", required: false) ?? ""
        guard specVersion == Self.specVersion else { throw .cloudEventSpecVersion(ModerationDecodeError.excerpt(specVersion)) }
        let event = CloudEvent(
            mode: .binary,
            id: try text(id, "id", required: true) ?? "",
            source: try text(source, "source", required: true) ?? "",
            type: try text(type, "type", required: true) ?? "",
            subject: try text(subject, "subject", required: false),
            time: try text(time, "time", required: false),
            dataContentType: contentType?.stringValue,
            dataSchema: try text(dataSchema, "dataschema", required: false),
            traceParent: traceParent?.stringValue,
            traceState: traceState?.stringValue)
        try event.validateTime()
        return event
    }

    // MARK: Structured mode

    /// A structured-mode event: its attributes, and its data as request bytes with their
    /// encoding. `defaultContentType` applies to `data_base64` without `datacontenttype`.
    static func structured(
        _ value: [UInt8],
        defaultContentType: ContentType
    ) throws(ModerationDecodeError) -> (event: CloudEvent, data: [UInt8], contentType: ContentType) {
        guard String(validating: value, as: UTF8.self) != nil else { throw .invalidUTF8 }
        let members: [(name: String, value: JSONObjectScanner.Value)]
        do {
            members = try JSONObjectScanner.members(of: value, maxDepth: maxStructuredDepth)
        } catch {
            throw .cloudEventMalformed(error.detail)
        }
        // Only the members read here are indexed (and checked for duplicates, which would be
        // ambiguous); extensions are ignored, so their names need no hashing.
        var byName: [String: JSONObjectScanner.Value] = [:]
        for member in members where Self.structuredMembers.contains(member.name) {
            guard byName.updateValue(member.value, forKey: member.name) == nil else {
                throw .cloudEventMalformed("member \"\(member.name)\" appears twice")
            }
        }
        func string(_ name: String, required: Bool) throws(ModerationDecodeError) -> String? {
            switch byName[name] {
            case nil, .other(_, .null)?:
                if required { throw .cloudEventAttribute(name: name, problem: "required, absent") }
                return nil
            case .string(let text)?:
                if required, text.isEmpty { throw .cloudEventAttribute(name: name, problem: "required, empty") }
                return text
            case .other(_, let kind)?:
                throw .cloudEventAttribute(name: name, problem: "a JSON \(kind), not a string")
            }
        }
        guard let version = try string("specversion", required: true) else {
            throw .cloudEventAttribute(name: "specversion", problem: "required, absent")
        }
        guard version == specVersion else { throw .cloudEventSpecVersion(ModerationDecodeError.excerpt(version)) }
        let event = CloudEvent(
            mode: .structured,
            id: try string("id", required: true) ?? "",
            source: try string("source", required: true) ?? "",
            type: try string("type", required: true) ?? "",
            subject: try string("subject", required: false),
            time: try string("time", required: false),
            dataContentType: try string("datacontenttype", required: false),
            dataSchema: try string("dataschema", required: false),
            traceParent: try? string("traceparent", required: false),
            traceState: try? string("tracestate", required: false))
        try event.validateTime()

        let data = byName["data"]
        let base64 = byName["data_base64"]
        if data != nil, base64 != nil { throw .cloudEventData("both data and data_base64") }
        if let base64 {
            guard case .string(let text) = base64 else { throw .cloudEventData("data_base64 is not a string") }
            guard let bytes = Data(base64Encoded: text) else { throw .cloudEventData("data_base64 is not valid base64") }
            let contentType = try ContentType.parse(event.dataContentType, default: defaultContentType)
            return (event, Array(bytes), contentType)
        }
        guard let data else { throw .cloudEventData("the event has no data (data or data_base64)") }
        // JSON data: `datacontenttype` absent (JSON by the format's rule) or a JSON type.
        if let declared = event.dataContentType, !Self.isJSON(mediaType: ContentType.mediaType(of: declared)) {
            if (try? ContentType.parse(declared)) == .protobuf {
                throw .cloudEventData("protobuf data must be in data_base64")
            }
            throw .unknownContentType(ModerationDecodeError.excerpt(declared))
        }
        switch data {
        case .other(let range, .object):
            return (event, Array(value[range]), .json)
        case .other(_, let kind):
            throw .cloudEventData("data is a JSON \(kind), not an object (a ModerationRequest)")
        case .string:
            throw .cloudEventData("data is a JSON string, not an object (a ModerationRequest)")
        }
    }

    /// The members of a structured event that `structured` reads.
    static let structuredMembers: Set<String> = [
        "specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema",
        "traceparent", "tracestate", "data", "data_base64",
    ]

    /// `application/json`, `text/json` and structured-syntax `+json` types.
    static func isJSON(mediaType: String) -> Bool {
        mediaType == "application/json" || mediaType == "text/json" || mediaType.hasSuffix("+json")
    }

    private func validateTime() throws(ModerationDecodeError) {
        guard let time else { return }
        guard DeadlineHeader.parseRFC3339(time) != nil else { throw .cloudEventAttribute(name: "time", problem: "not an RFC 3339 timestamp") }
    }
}
