import Foundation
import KafkaHeaders
import ModerationProto
import XCTest

/// `RequestEnvelope.open` / `ResultEnvelope.seal`: the one entry point the worker calls,
/// across the combinations of content type, framing and CloudEvents.
final class RequestEnvelopeTests: XCTestCase {
    func request(_ text: String, id: String = "") -> ModerationRequest {
        var request = ModerationRequest()
        request.id = id
        request.text = text
        return request
    }

    func testPlainRecordsAreUnchanged() throws {
        let protobuf = try ModerationCodec.encodeRequest(request("hi", id: "a"), contentType: .protobuf)
        let plain = try RequestEnvelope.open(value: protobuf, headers: [KafkaHeader]())
        XCTAssertEqual(plain.payload, protobuf)
        XCTAssertEqual(plain.contentType, .protobuf)
        XCTAssertNil(plain.schemaFrame)
        XCTAssertNil(plain.cloudEvent)
        XCTAssertEqual(plain.trace, TraceHeaders())
        XCTAssertEqual(try plain.decodeRequest().id, "a")

        let json = try ModerationCodec.encodeRequest(request("hi"), contentType: .json)
        let headed = try RequestEnvelope.open(value: json, headers: [KafkaHeader(key: "content-type", string: "application/json; charset=utf-8")])
        XCTAssertEqual(headed.contentType, .json)
        XCTAssertEqual(try headed.decodeRequest().id, "", "no CloudEvent: the worker falls back to topic/partition/offset")
    }

    func testDefaultContentTypeAppliesOnlyWithoutAHeader() throws {
        let json = try ModerationCodec.encodeRequest(request("hi"), contentType: .json)
        let options = EnvelopeOptions(defaultContentType: .json)
        XCTAssertEqual(try RequestEnvelope.open(value: json, headers: [KafkaHeader](), options: options).contentType, .json)
        XCTAssertEqual(try RequestEnvelope.open(value: json, headers: [KafkaHeader(key: "content-type", value: nil)], options: options).contentType, .json, "a null header is no header")
        XCTAssertEqual(try RequestEnvelope.open(value: json, headers: [KafkaHeader(key: "content-type", string: "")], options: options).contentType, .json)
        let explicit = [KafkaHeader(key: "content-type", string: "application/x-protobuf")]
        XCTAssertEqual(try RequestEnvelope.open(value: json, headers: explicit, options: options).contentType, .protobuf, "the header wins")
        // The last content-type header counts, as everywhere in the worker.
        let twice = [KafkaHeader(key: "content-type", string: "application/x-protobuf"), KafkaHeader(key: "content-type", string: "application/json")]
        XCTAssertEqual(try RequestEnvelope.open(value: json, headers: twice).contentType, .json)
        assertDecodeError(.unknownContentType("(not UTF-8: 2 bytes)")) { () throws(ModerationDecodeError) in
            try RequestEnvelope.open(value: json, headers: [KafkaHeader(key: "content-type", value: [0xFF, 0xFE])])
        }
        assertDecodeError(.unknownContentType("text/plain")) { () throws(ModerationDecodeError) in
            try RequestEnvelope.open(value: json, headers: [KafkaHeader(key: "content-type", string: "text/plain")], options: options)
        }
    }

    func testContentTypeNamesForTheCommandLine() {
        XCTAssertEqual(ContentType(name: "protobuf"), .protobuf)
        XCTAssertEqual(ContentType(name: "JSON"), .json)
        XCTAssertEqual(ContentType(name: "application/json"), .json)
        XCTAssertEqual(ContentType(name: "application/protobuf"), .protobuf)
        XCTAssertNil(ContentType(name: ""))
        XCTAssertNil(ContentType(name: "xml"))
        XCTAssertEqual(try ContentType.parse(nil, default: .json), .json)
        XCTAssertEqual(try ContentType.parse("  ", default: .json), .json)
        // A long unknown value is cut in the error, which goes into a dead-letter header.
        do {
            _ = try ContentType.parse(String(repeating: "x", count: 10_000))
            XCTFail("accepted")
        } catch {
            XCTAssertLessThan(error.description.utf8.count, 120)
        }
    }

    func testTombstoneIsAnEmptyRequest() {
        assertDecodeError(.missingText) { () throws(ModerationDecodeError) in
            let request = try RequestEnvelope.open(value: nil, headers: [KafkaHeader]()).decodeRequest()
            try ModerationCodec.validate(request, maxTextBytes: 100)
        }
    }

    func testBinaryCloudEventWithSchemaRegistryFramedData() throws {
        // A Confluent-serialized value, wrapped by middleware that adds CloudEvent headers.
        let fixture = try InteropFixture("sr-protobuf-request")
        let headers = [
            KafkaHeader(key: "ce_specversion", string: "1.0"), KafkaHeader(key: "ce_id", string: "e-9"),
            KafkaHeader(key: "ce_source", string: "/bridge"), KafkaHeader(key: "ce_type", string: "moderation.request"),
            KafkaHeader(key: "content-type", string: "application/x-protobuf"),
        ]
        let envelope = try RequestEnvelope.open(value: fixture.value, headers: headers, options: EnvelopeOptions(allowedSchemaIDs: [12]))
        XCTAssertEqual(envelope.schemaFrame?.schemaID, 12)
        XCTAssertEqual(envelope.cloudEvent?.id, "e-9")
        XCTAssertEqual(try envelope.decodeRequest().id, "sr-1", "the payload's own id wins over ce_id")
    }

    func testStructuredCloudEventWithFramedDataBase64() throws {
        let fixture = try InteropFixture("sr-protobuf-request")
        let event = #"{"specversion":"1.0","id":"e-1","source":"s","type":"t","datacontenttype":"application/x-protobuf","data_base64":"\#(Data(fixture.value).base64EncodedString())"}"#
        let envelope = try RequestEnvelope.open(
            value: Array(event.utf8), headers: [KafkaHeader(key: "content-type", string: "application/cloudevents+json")])
        XCTAssertEqual(envelope.schemaFrame?.schemaID, 12)
        XCTAssertEqual(try envelope.decodeRequest().text, "hello from a Confluent producer")
    }

    func testSealWithEverything() throws {
        let trace = TraceHeaders.extract(from: [KafkaHeader(key: "traceparent", string: TraceHeadersTests.valid)])
        let time = try XCTUnwrap(DeadlineHeader.parse("2025-06-01T08:30:00.125Z"))
        let sealed = ResultEnvelope.seal(
            [0x0A, 0x01, 0x61], contentType: .protobuf, requestID: "a", eventID: "in/2/40", trace: trace,
            options: ResultEnvelopeOptions(schemaID: 300, cloudEvents: CloudEventOutput(source: "/fleet/eu")), time: time)
        XCTAssertEqual(sealed.value, [0x00, 0, 0, 0x01, 0x2C, 0x02, 0x02, 0x0A, 0x01, 0x61])
        XCTAssertEqual(sealed.headers, [
            KafkaHeader(key: "ce_specversion", string: "1.0"),
            KafkaHeader(key: "ce_id", string: "in/2/40"),
            KafkaHeader(key: "ce_source", string: "/fleet/eu"),
            KafkaHeader(key: "ce_type", string: "ai.duoguard.moderation.result.v1"),
            KafkaHeader(key: "ce_subject", string: "a"),
            KafkaHeader(key: "ce_time", string: "2025-06-01T08:30:00.125Z"),
            KafkaHeader(key: "content-type", string: "application/x-protobuf"),
            KafkaHeader(key: "traceparent", string: TraceHeadersTests.valid),
        ])
        let plain = ResultEnvelope.seal([1], contentType: .json, requestID: "a", eventID: "e", trace: TraceHeaders(), options: ResultEnvelopeOptions())
        XCTAssertEqual(plain, ResultEnvelope(value: [1], headers: [KafkaHeader(key: "content-type", string: "application/json")]))
    }

    func testHugeHeadersAndValuesStayLinear() throws {
        // A megabyte in every header the envelope reads: all dropped or refused, quickly.
        let big = String(repeating: "a", count: 1 << 20)
        let headers = ["traceparent", "tracestate", "baggage", "ce_specversion"].map { KafkaHeader(key: $0, string: big) }
        let start = ContinuousClock.now
        assertDecodeErrorCode("CLOUDEVENT_SPECVERSION") { () throws(ModerationDecodeError) in
            try RequestEnvelope.open(value: [], headers: headers)
        }
        let trace = TraceHeaders.extract(from: headers)
        XCTAssertEqual(trace, TraceHeaders())
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), "linear work on 4 MiB of headers")
    }
}
