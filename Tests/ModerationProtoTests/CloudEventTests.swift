import Foundation
import KafkaHeaders
import ModerationProto
import TestSupport
import XCTest

/// CloudEvents Kafka protocol binding, both modes, against records written by the
/// CloudEvents Python SDK (Tests/Fixtures/interop) and against bad events.
final class CloudEventTests: XCTestCase {
    static let traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    // MARK: Binary mode

    func testBinaryJSONEventWithoutIDTakesTheEventID() throws {
        let fixture = try InteropFixture("ce-binary-json")
        let envelope = try RequestEnvelope.open(value: fixture.value, headers: fixture.headers)
        XCTAssertEqual(envelope.contentType, .json)
        XCTAssertEqual(
            envelope.cloudEvent,
            CloudEvent(
                mode: .binary, id: "ce-1", source: "/chat/frontend", type: "com.example.moderation.request",
                subject: "message-42", time: "2025-01-31T12:00:00.250Z", dataContentType: "application/json",
                traceParent: Self.traceParent))
        let request = try envelope.decodeRequest()
        XCTAssertEqual(request.id, "ce-1", "ce_id becomes the request id when the payload has none")
        XCTAssertEqual(request.text, "binary mode, JSON data")
        // The tracing extension (ce_traceparent) continues the trace when there is no traceparent header.
        XCTAssertEqual(envelope.trace.traceParent?.headerValue, Self.traceParent)
    }

    func testBinaryProtobufEventKeepsItsOwnID() throws {
        let fixture = try InteropFixture("ce-binary-protobuf")
        let envelope = try RequestEnvelope.open(value: fixture.value, headers: fixture.headers)
        XCTAssertEqual(envelope.contentType, .protobuf)
        XCTAssertEqual(envelope.cloudEvent?.mode, .binary)
        let request = try envelope.decodeRequest()
        XCTAssertEqual(request.id, "req-7")
        XCTAssertEqual(request.text, "binary mode, protobuf data")
    }

    func testBinaryEventWithoutContentTypeUsesTheDefault() throws {
        let headers = Self.binaryHeaders()
        let json = Array(#"{"text":"no content type"}"#.utf8)
        let envelope = try RequestEnvelope.open(value: json, headers: headers, options: EnvelopeOptions(defaultContentType: .json))
        XCTAssertEqual(try envelope.decodeRequest().text, "no content type")
        XCTAssertNil(envelope.cloudEvent?.dataContentType)
    }

    func testBinaryEventsWithBadAttributes() {
        let json = Array(#"{"text":"x"}"#.utf8)
        func open(_ headers: [KafkaHeader]) throws(ModerationDecodeError) -> RequestEnvelope {
            try RequestEnvelope.open(value: json, headers: headers)
        }
        assertDecodeError(.cloudEventSpecVersion("0.3")) { () throws(ModerationDecodeError) in
            try open(Self.binaryHeaders(replacing: "ce_specversion", with: "0.3"))
        }
        assertDecodeError(.cloudEventSpecVersion("")) { () throws(ModerationDecodeError) in
            try open(Self.binaryHeaders(replacing: "ce_specversion", with: ""))
        }
        for name in ["id", "source", "type"] {
            assertDecodeError(.cloudEventAttribute(name: name, problem: "required, absent (header ce_\(name))")) {
                () throws(ModerationDecodeError) in try open(Self.binaryHeaders(removing: "ce_\(name)"))
            }
            assertDecodeError(.cloudEventAttribute(name: name, problem: "required, empty")) { () throws(ModerationDecodeError) in
                try open(Self.binaryHeaders(replacing: "ce_\(name)", with: ""))
            }
            assertDecodeError(.cloudEventAttribute(name: name, problem: "not UTF-8")) { () throws(ModerationDecodeError) in
                try open(Self.binaryHeaders(removing: "ce_\(name)") + [KafkaHeader(key: "ce_\(name)", value: [0xC3, 0x28])])
            }
            assertDecodeError(.cloudEventAttribute(name: name, problem: "null header value")) { () throws(ModerationDecodeError) in
                try open(Self.binaryHeaders(removing: "ce_\(name)") + [KafkaHeader(key: "ce_\(name)", value: nil)])
            }
        }
        for time in ["yesterday", "1738324800000", "2025-02-30T00:00:00Z", "2025-01-31T12:00:00", " 2025-01-31T12:00:00Z ", ""] {
            assertDecodeError(.cloudEventAttribute(name: "time", problem: "not an RFC 3339 timestamp")) {
                () throws(ModerationDecodeError) in try open(Self.binaryHeaders(replacing: "ce_time", with: time))
            }
        }
        // A long hostile specversion is cut in the error (it goes into a header).
        do {
            _ = try open(Self.binaryHeaders(replacing: "ce_specversion", with: String(repeating: "9", count: 100_000)))
            XCTFail("accepted")
        } catch {
            XCTAssertEqual(error.code, "CLOUDEVENT_SPECVERSION")
            XCTAssertLessThan(error.description.utf8.count, 200)
        }
    }

    // MARK: Structured mode

    func testStructuredJSONEventDataIsTheRequest() throws {
        let fixture = try InteropFixture("ce-structured-json")
        let envelope = try RequestEnvelope.open(value: fixture.value, headers: fixture.headers)
        XCTAssertEqual(envelope.contentType, .json)
        XCTAssertEqual(envelope.cloudEvent?.mode, .structured)
        XCTAssertEqual(envelope.cloudEvent?.id, "ce-3")
        XCTAssertEqual(envelope.cloudEvent?.dataContentType, "application/json")
        // The data's bytes exactly as the producer wrote them.
        XCTAssertEqual(String(decoding: envelope.payload, as: UTF8.self), #"{"text": "structured mode", "metadata": {"lang": "en"}}"#)
        let request = try envelope.decodeRequest()
        XCTAssertEqual(request.id, "ce-3")
        XCTAssertEqual(request.text, "structured mode")
        XCTAssertEqual(request.metadata, ["lang": "en"])
        XCTAssertEqual(envelope.trace.traceParent?.traceID, "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    func testStructuredEventWithProtobufInDataBase64() throws {
        let fixture = try InteropFixture("ce-structured-base64")
        let envelope = try RequestEnvelope.open(value: fixture.value, headers: fixture.headers)
        XCTAssertEqual(envelope.contentType, .protobuf)
        let request = try envelope.decodeRequest()
        XCTAssertEqual(request.id, "req-9")
        XCTAssertEqual(request.text, "structured mode, protobuf data")
    }

    func testStructuredEventVariants() throws {
        // No datacontenttype: data is JSON by the format's rule. Escapes in attributes decode.
        let minimal = try Self.openStructured(
            #"{"specversion":"1.0","id":"caf\u00e9 \ud83d\ude00","source":"s","type":"t","data":{"text":"hi"}}"#)
        XCTAssertEqual(minimal.cloudEvent?.id, "café 😀")
        XCTAssertEqual(try minimal.decodeRequest().id, "café 😀")
        // +json media types are JSON; null optional attributes are absent.
        let vendor = try Self.openStructured(
            #"{"specversion":"1.0","id":"1","source":"s","type":"t","subject":null,"datacontenttype":"application/vnd.acme+json","data":{"text":"hi"}}"#)
        XCTAssertNil(vendor.cloudEvent?.subject)
        XCTAssertEqual(try vendor.decodeRequest().text, "hi")
        // data_base64 without datacontenttype: the worker's default content type.
        let base64 = Data(#"{"text":"b64"}"#.utf8).base64EncodedString()
        let defaulted = try Self.openStructured(
            #"{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"\#(base64)"}"#,
            options: EnvelopeOptions(defaultContentType: .json))
        XCTAssertEqual(try defaulted.decodeRequest().text, "b64")
        // Extensions of any JSON type are ignored; so is deep-ish nesting within the limit.
        let extensions = try Self.openStructured(
            #"{"specversion":"1.0","id":"1","source":"s","type":"t","ext":[1,{"a":[true,false,null,-1.5e3]}],"data":{"text":"x"}}"#)
        XCTAssertEqual(try extensions.decodeRequest().text, "x")
    }

    func testBadStructuredEvents() {
        let cases: [(String, String)] = [
            ("CLOUDEVENT_MALFORMED", ""),
            ("CLOUDEVENT_MALFORMED", "not json"),
            ("CLOUDEVENT_MALFORMED", "[1,2]"),
            ("CLOUDEVENT_MALFORMED", #"{"specversion":"1.0""#),
            ("CLOUDEVENT_MALFORMED", #"{"specversion":"1.0"} trailing"#),
            ("CLOUDEVENT_MALFORMED", #"{"id":"1","id":"2"}"#),
            ("CLOUDEVENT_MALFORMED", #"{"a":"\ud800"}"#),
            ("CLOUDEVENT_MALFORMED", "{\"a\":\"tab\there\"}"),
            ("CLOUDEVENT_MALFORMED", #"{"a":01}"#),
            ("CLOUDEVENT_MALFORMED", #"{"a":tru}"#),
            ("CLOUDEVENT_MALFORMED", #"{"a":[1,]}"#),
            ("CLOUDEVENT_MALFORMED", #"{"a":"\x"}"#),
            ("CLOUDEVENT_ATTRIBUTE", #"{"id":"1","source":"s","type":"t","data":{}}"#),
            ("CLOUDEVENT_SPECVERSION", #"{"specversion":"0.3","id":"1","source":"s","type":"t","data":{}}"#),
            ("CLOUDEVENT_ATTRIBUTE", #"{"specversion":1.0,"id":"1","source":"s","type":"t","data":{}}"#),
            ("CLOUDEVENT_ATTRIBUTE", #"{"specversion":"1.0","id":7,"source":"s","type":"t","data":{}}"#),
            ("CLOUDEVENT_ATTRIBUTE", #"{"specversion":"1.0","id":"1","type":"t","data":{}}"#),
            ("CLOUDEVENT_ATTRIBUTE", #"{"specversion":"1.0","id":"1","source":"","type":"t","data":{}}"#),
            ("CLOUDEVENT_ATTRIBUTE", #"{"specversion":"1.0","id":"1","source":"s","type":"t","time":"soon","data":{}}"#),
            ("CLOUDEVENT_DATA", #"{"specversion":"1.0","id":"1","source":"s","type":"t"}"#),
            ("CLOUDEVENT_DATA", #"{"specversion":"1.0","id":"1","source":"s","type":"t","data":"{\"text\":\"x\"}"}"#),
            ("CLOUDEVENT_DATA", #"{"specversion":"1.0","id":"1","source":"s","type":"t","data":[1]}"#),
            ("CLOUDEVENT_DATA", #"{"specversion":"1.0","id":"1","source":"s","type":"t","data":{},"data_base64":""}"#),
            ("CLOUDEVENT_DATA", #"{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"%%%"}"#),
            ("CLOUDEVENT_DATA", #"{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":5}"#),
            ("CLOUDEVENT_DATA", #"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/x-protobuf","data":{"text":"x"}}"#),
            ("UNKNOWN_CONTENT_TYPE", #"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"text/plain","data":{"text":"x"}}"#),
            ("UNKNOWN_CONTENT_TYPE", #"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"text/plain","data_base64":"AA=="}"#),
        ]
        for (code, text) in cases {
            assertDecodeErrorCode(code) { () throws(ModerationDecodeError) in try Self.openStructured(text) }
        }
        // Not UTF-8 at all.
        assertDecodeError(.invalidUTF8) { () throws(ModerationDecodeError) in
            try RequestEnvelope.open(value: [0x7B, 0xFF, 0x7D], headers: [Self.structuredHeader])
        }
        // Batch mode and other event formats are not structured JSON events.
        for contentType in ["application/cloudevents-batch+json", "application/cloudevents+avro"] {
            assertDecodeErrorCode("UNKNOWN_CONTENT_TYPE") { () throws(ModerationDecodeError) in
                try RequestEnvelope.open(value: Array("{}".utf8), headers: [KafkaHeader(key: "content-type", string: contentType)])
            }
        }
    }

    func testDeepNestingIsRefusedWithoutExhaustingTheStack() {
        for depth in [33, 10_000, 1_000_000] {
            let text = #"{"specversion":"1.0","id":"1","source":"s","type":"t","x":"# + String(repeating: "[", count: depth)
                + String(repeating: "]", count: depth) + #","data":{"text":"x"}}"#
            assertDecodeErrorCode("CLOUDEVENT_MALFORMED") { () throws(ModerationDecodeError) in try Self.openStructured(text) }
        }
        // Within the limit (32 levels with the event itself): accepted.
        let depth = 31
        let ok = #"{"specversion":"1.0","id":"1","source":"s","type":"t","x":"# + String(repeating: "[", count: depth)
            + String(repeating: "]", count: depth) + #","data":{"text":"x"}}"#
        XCTAssertNoThrow(try Self.openStructured(ok))
    }

    func testRandomStructuredBytesNeverTrap() {
        var generator = SplitMix64(seed: 7)
        let alphabet = Array(#"{}[]":,\ u0123456789abcdeftrulnsxX-+.eE"#.utf8) + [0x00, 0xC3, 0xA9, 0x0A]
        let seed = Array(#"{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"text":"hi","metadata":{"k":"v"}}}"#.utf8)
        var codes: [String: Int] = [:]
        for _ in 0..<20_000 {
            var bytes = seed
            for _ in 0..<Int(generator.next() % 4 + 1) {
                let position = Int(generator.next() % UInt64(bytes.count))
                let byte = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                switch generator.next() % 3 {
                case 0: bytes[position] = byte
                case 1: bytes.insert(byte, at: position)
                default: bytes.remove(at: position)
                }
                if bytes.isEmpty { bytes = [0x7B] }
            }
            do {
                _ = try RequestEnvelope.open(value: bytes, headers: [Self.structuredHeader]).decodeRequest()
                codes["decoded", default: 0] += 1
            } catch {
                codes[error.code, default: 0] += 1
            }
        }
        XCTAssertGreaterThan(codes["CLOUDEVENT_MALFORMED", default: 0], 0)
        XCTAssertGreaterThan(codes["decoded", default: 0], 0)
        XCTAssertEqual(codes.values.reduce(0, +), 20_000)
    }

    // MARK: Output

    func testResultHeadersAreWhatTheSDKWritesForTheSameAttributes() throws {
        let fixture = try InteropFixture("ce-binary-result")
        let time = try XCTUnwrap(DeadlineHeader.parse("2025-01-31T12:00:00.250Z"))
        let sealed = ResultEnvelope.seal(
            Array(#"{"requestId":"req-7"}"#.utf8), contentType: .json, requestID: "req-7",
            eventID: "moderation-requests/0/5", trace: TraceHeaders(),
            options: ResultEnvelopeOptions(cloudEvents: CloudEventOutput()), time: time)
        XCTAssertEqual(Set(sealed.headers), Set(fixture.headers))
        XCTAssertEqual(sealed.headers.count, fixture.headers.count)
        // And the worker's own reader takes them back as a binary-mode event.
        let event = try XCTUnwrap(try RequestEnvelope.open(value: sealed.value, headers: sealed.headers).cloudEvent)
        XCTAssertEqual(event.type, CloudEventOutput.resultType)
        XCTAssertEqual(event.id, "moderation-requests/0/5")
    }

    func testRFC3339Times() throws {
        let cases: [(String, String)] = [
            ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
            ("2024-02-29T23:59:59.999Z", "2024-02-29T23:59:59.999Z"),
            ("2025-01-31T13:00:00.250+01:00", "2025-01-31T12:00:00.250Z"),
            ("1969-12-31T23:59:59.500Z", "1969-12-31T23:59:59.500Z"),
            ("2100-03-01T00:00:00Z", "2100-03-01T00:00:00.000Z"),
        ]
        for (input, output) in cases {
            let date = try XCTUnwrap(DeadlineHeader.parse(input), input)
            let headers = CloudEventOutput().headers(id: "i", subject: "s", contentType: .json, time: date)
            XCTAssertEqual(headers.first { $0.key == "ce_time" }, KafkaHeader(key: "ce_time", string: output))
        }
    }

    // MARK: Helpers

    static let structuredHeader = KafkaHeader(key: "content-type", string: "application/cloudevents+json")

    static func openStructured(_ text: String, options: EnvelopeOptions = EnvelopeOptions()) throws(ModerationDecodeError) -> RequestEnvelope {
        try RequestEnvelope.open(value: Array(text.utf8), headers: [structuredHeader], options: options)
    }

    static func binaryHeaders(removing: String? = nil, replacing: String? = nil, with value: String = "") -> [KafkaHeader] {
        let base = [
            ("ce_specversion", "1.0"), ("ce_id", "e-1"), ("ce_source", "/test"), ("ce_type", "t"),
            ("ce_time", "2025-01-31T12:00:00Z"),
        ]
        return base.compactMap { key, original in
            if key == removing { return nil }
            return KafkaHeader(key: key, string: key == replacing ? value : original)
        }
    }
}
