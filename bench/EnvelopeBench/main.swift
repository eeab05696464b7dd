// Per-request cost of opening the envelope around a request (issue 11): Schema Registry
// framing, CloudEvents in both modes, trace headers, compared with the bare decode the
// worker already does. Prints nanoseconds per request; not a test (nothing is asserted).
//
//   bash bench/envelope/run.sh [ITERATIONS]
//   bash bench/envelope/run.sh --instructions   (valgrind: instructions per request)
//
// `EnvelopeBench ITERATIONS --only MEASUREMENT` runs one measurement once, silently, for
// instruction counting (see run.sh); measurements are named by `--list`.
import Foundation
import KafkaHeaders
import ModerationProto

let arguments = Array(CommandLine.arguments.dropFirst())
let iterations = arguments.first.flatMap(Int.init) ?? 200_000
let only = arguments.firstIndex(of: "--only").flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
let list = arguments.contains("--list")
let rounds = only == nil ? 5 : 1

func loadAverage() -> String {
    (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
}

var request = ModerationRequest()
request.id = "req-123456"
request.text = "How do I bake sourdough bread at home without a proofing basket? Any tips for a beginner are welcome."
request.metadata = ["app": "chat", "tenant": "acme"]
let protobuf = try ModerationCodec.encodeRequest(request, contentType: .protobuf)
let json = try ModerationCodec.encodeRequest(request, contentType: .json)
let traceHeaders = [
    KafkaHeader(key: "traceparent", string: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    KafkaHeader(key: "tracestate", string: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
    KafkaHeader(key: "baggage", string: "tenant=acme,experiment=b"),
]
let ceHeaders = [
    KafkaHeader(key: "ce_specversion", string: "1.0"), KafkaHeader(key: "ce_id", string: "e-1"),
    KafkaHeader(key: "ce_source", string: "/chat/frontend"), KafkaHeader(key: "ce_type", string: "com.example.moderation"),
    KafkaHeader(key: "ce_time", string: "2025-01-31T12:00:00.250Z"),
]
let jsonHeader = KafkaHeader(key: "content-type", string: "application/json")
let structuredHeader = KafkaHeader(key: "content-type", string: "application/cloudevents+json")
let structuredJSON = Array(
    (#"{"specversion":"1.0","id":"e-1","source":"/chat/frontend","type":"com.example.moderation","time":"2025-01-31T12:00:00.250Z","datacontenttype":"application/json","data":"#
        + String(decoding: json, as: UTF8.self) + "}").utf8)
let structuredBase64 = Array(
    (#"{"specversion":"1.0","id":"e-1","source":"/chat/frontend","type":"com.example.moderation","datacontenttype":"application/x-protobuf","data_base64":""#
        + Data(protobuf).base64EncodedString() + #""}"#).utf8)

struct Case {
    let name: String
    let value: [UInt8]
    let headers: [KafkaHeader]
    let options: EnvelopeOptions

    init(name: String, value: [UInt8], headers: [KafkaHeader], options: EnvelopeOptions) {
        self.name = name
        self.value = value
        self.headers = headers
        self.options = options
    }
}
let cases = [
    Case(name: "protobuf, bare", value: protobuf, headers: [], options: EnvelopeOptions()),
    Case(name: "JSON, content-type", value: json, headers: [jsonHeader], options: EnvelopeOptions()),
    Case(name: "protobuf + trace headers", value: protobuf, headers: traceHeaders, options: EnvelopeOptions()),
    Case(name: "Schema Registry protobuf", value: SchemaRegistryFrame(schemaID: 12, messageIndexes: [0]).framing(protobuf),
         headers: [], options: EnvelopeOptions(allowedSchemaIDs: [12, 13])),
    Case(name: "Schema Registry JSON", value: SchemaRegistryFrame(schemaID: 14, messageIndexes: nil).framing(json),
         headers: [], options: EnvelopeOptions(defaultContentType: .json, allowedSchemaIDs: [14])),
    Case(name: "CloudEvent binary, JSON", value: json, headers: ceHeaders + [jsonHeader], options: EnvelopeOptions()),
    Case(name: "CloudEvent structured, JSON", value: structuredJSON, headers: [structuredHeader], options: EnvelopeOptions()),
    Case(name: "CloudEvent structured, base64", value: structuredBase64, headers: [structuredHeader], options: EnvelopeOptions()),
]

/// Best of `rounds` runs of `iterations` calls, in nanoseconds per call. With `--only`, runs
/// only the measurement of that name; with `--list`, prints the names.
func measure(_ name: String, _ body: () throws -> Int) rethrows -> Double {
    if list { print(name); return 0 }
    if let only, only != name { return 0 }
    var best = Double.infinity
    var sink = 0
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        for _ in 0..<iterations { sink &+= try body() }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        best = min(best, seconds * 1e9 / Double(iterations))
    }
    if sink == 42 { print("") }  // keeps the work observable
    return best
}

let quiet = only != nil || list
func report(_ line: String) { if !quiet { print(line) } }

report("envelope bench: \(iterations) iterations x \(rounds) rounds, best round; load average before: \(loadAverage())")
report("request: \(request.text.utf8.count) bytes of text; protobuf \(protobuf.count) B, JSON \(json.count) B")
report("")
report("format                          open (ns)   open+decode (ns)   bare decode (ns)   envelope share")
for (index, item) in cases.enumerated() {
    let open = try measure("open-\(index)") { try RequestEnvelope.open(value: item.value, headers: item.headers, options: item.options).payload.count }
    let full = try measure("full-\(index)") {
        try RequestEnvelope.open(value: item.value, headers: item.headers, options: item.options).decodeRequest().text.utf8.count
    }
    let content: ContentType = item.name.contains("JSON") && !item.name.contains("base64") ? .json : .protobuf
    let bare = try measure("bare-\(index)") { try ModerationCodec.decodeRequest(content == .json ? json : protobuf, contentType: content).text.utf8.count }
    report(
        item.name.padding(toLength: 30, withPad: " ", startingAt: 0)
            + String(format: " %9.0f   %16.0f   %16.0f   %13.0f%%", open, full, bare, 100 * (full - bare) / full))
}

var result = ModerationResult()
result.requestID = request.id
result.probabilities = Array(repeating: 0.125, count: 12)
result.maxProbability = 0.125
let encoded = try ModerationCodec.encodeResult(result, contentType: .protobuf)
let trace = try RequestEnvelope.open(value: protobuf, headers: traceHeaders).trace
report("")
report("result seal                     ns")
for (index, (name, options)) in [
    ("plain (content-type only)", ResultEnvelopeOptions()),
    ("Schema Registry framing", ResultEnvelopeOptions(schemaID: 13)),
    ("CloudEvent binary + framing", ResultEnvelopeOptions(schemaID: 13, cloudEvents: CloudEventOutput())),
].enumerated() {
    let now = Date()
    let ns = measure("seal-\(index)") {
        ResultEnvelope.seal(encoded, contentType: .protobuf, requestID: request.id, eventID: "t/0/1", trace: trace, options: options, time: now)
            .headers.count
    }
    report(name.padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: " %6.0f", ns))
}
report("")
report("load average after: \(loadAverage())")
