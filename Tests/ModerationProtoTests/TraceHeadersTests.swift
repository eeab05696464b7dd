import KafkaHeaders
import ModerationProto
import XCTest

/// W3C trace context: `traceparent`, `tracestate`, `baggage` are validated and copied on;
/// anything invalid is dropped, never fatal.
final class TraceHeadersTests: XCTestCase {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    func testValidTraceParent() throws {
        let parent = try XCTUnwrap(TraceParent(Self.valid))
        XCTAssertEqual(parent.version, 0)
        XCTAssertEqual(parent.traceID, "4bf92f3577b34da6a3ce929d0e0e4736")
        XCTAssertEqual(parent.parentID, "00f067aa0ba902b7")
        XCTAssertEqual(parent.flags, 1)
        XCTAssertTrue(parent.sampled)
        XCTAssertEqual(TraceParent(" \(Self.valid)\t")?.headerValue, Self.valid, "surrounding whitespace trimmed")
        XCTAssertEqual(TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?.sampled, false)
    }

    func testInvalidTraceParents() {
        let invalid = [
            "",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // uppercase
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero parent id
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // 00 must be exactly 55
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",  // short
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // delimiter
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  // not hex
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",  // flags not hex
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version not hex
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // future, but no '-' after 55
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" + String(repeating: "-", count: 1_000_000),
        ]
        for value in invalid {
            XCTAssertNil(TraceParent(value), String(value.prefix(80)))
        }
    }

    func testFutureVersionsAreReadAsVersion00AndCopiedUnchanged() throws {
        let future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-the-future-holds"
        let parent = try XCTUnwrap(TraceParent(future))
        XCTAssertEqual(parent.version, 0xCC)
        XCTAssertEqual(parent.traceID, "4bf92f3577b34da6a3ce929d0e0e4736")
        XCTAssertEqual(parent.flags, 9)
        XCTAssertEqual(parent.headerValue, future)
        XCTAssertNotNil(TraceParent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "future version, exactly 55")
    }

    func testTraceState() throws {
        XCTAssertEqual(TraceState(["congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"])?.members, ["congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7"])
        XCTAssertEqual(TraceState([" a=1 ,, ", "b@sys=2"])?.headerValue, "a=1,b@sys=2", "repeated headers are one list; empty members dropped")
        XCTAssertEqual(TraceState(["0tenant@vendor=x"])?.members.count, 1, "tenant may start with a digit")
        let thirtyTwo = (0..<32).map { "k\($0)=v" }.joined(separator: ",")
        XCTAssertEqual(TraceState([thirtyTwo])?.members.count, 32)
        let invalid: [[String]] = [
            [thirtyTwo + ",k32=v"],  // 33 members
            ["a=1,a=2"],  // duplicate key
            ["A=1"],  // uppercase key
            ["1a=1"],  // simple key must start with a letter
            ["a="],  // empty value
            ["a=x,y"],  // member without '='
            ["a=b=c"],  // '=' in value
            ["a=" + String(repeating: "x", count: 257)],  // value too long
            [String(repeating: "k", count: 257) + "=v"],  // key too long
            ["t@" + String(repeating: "s", count: 15) + "=v"],  // system id too long
            ["t@1sys=v"],  // system id must start with a letter
            ["a@b@c=v"],
            ["a=caf\u{e9}"],  // not printable ASCII
            [String(repeating: "a=1,", count: 3000)],  // over the byte limit
        ]
        for values in invalid {
            XCTAssertNil(TraceState(values), String(values.joined().prefix(80)))
        }
    }

    func testBaggage() {
        XCTAssertEqual(Baggage("userId=alice,serverNode=DF%2028,isProduction=false")?.memberCount, 3)
        XCTAssertEqual(Baggage("key1 = value1 ; prop1 ; prop2=v , key2=value2")?.memberCount, 2)
        XCTAssertEqual(Baggage("k=")?.memberCount, 1, "empty values are allowed")
        for invalid in ["", "novalue", "k=v,", "k=a b", "k=\"q\"", "k=a\\b", "=v", "k(=v", "k=v;=x", "k=caf\u{e9}",
                        String(repeating: "k=v,", count: 181).dropLast().description,
                        "k=" + String(repeating: "x", count: 9000)] {
            XCTAssertNil(Baggage(invalid), String(invalid.prefix(60)))
        }
    }

    func testExtractCopiesOnlyValidHeaders() {
        let headers = [
            KafkaHeader(key: "traceparent", string: Self.valid),
            KafkaHeader(key: "tracestate", string: "rojo=00f067aa0ba902b7"),
            KafkaHeader(key: "tracestate", string: "congo=t61rcWkgMzE"),
            KafkaHeader(key: "baggage", string: "tenant=acme"),
            KafkaHeader(key: "other", string: "x"),
        ]
        XCTAssertEqual(TraceHeaders.extract(from: headers).headers, [
            KafkaHeader(key: "traceparent", string: Self.valid),
            KafkaHeader(key: "tracestate", string: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
            KafkaHeader(key: "baggage", string: "tenant=acme"),
        ])
        // An invalid traceparent takes its tracestate with it; baggage stands alone.
        let badParent = [
            KafkaHeader(key: "traceparent", string: "00-XYZ"),
            KafkaHeader(key: "tracestate", string: "rojo=1"),
            KafkaHeader(key: "baggage", string: "tenant=acme"),
        ]
        XCTAssertEqual(TraceHeaders.extract(from: badParent).headers, [KafkaHeader(key: "baggage", string: "tenant=acme")])
        // Two traceparents: which one? Neither.
        let two = [KafkaHeader(key: "traceparent", string: Self.valid), KafkaHeader(key: "traceparent", string: Self.valid)]
        XCTAssertEqual(TraceHeaders.extract(from: two).headers, [])
        // Null or non-UTF-8 values are invalid values.
        let binary = [KafkaHeader(key: "traceparent", value: [0xFF]), KafkaHeader(key: "baggage", value: nil)]
        XCTAssertEqual(TraceHeaders.extract(from: binary), TraceHeaders())
        let badState = [KafkaHeader(key: "traceparent", string: Self.valid), KafkaHeader(key: "tracestate", value: [0xFF])]
        XCTAssertEqual(TraceHeaders.extract(from: badState).headers, [KafkaHeader(key: "traceparent", string: Self.valid)])
        // The CloudEvents tracing extension is the fallback, never an override.
        let fallback = "00-11111111111111111111111111111111-2222222222222222-00"
        XCTAssertEqual(TraceHeaders.extract(from: [KafkaHeader](), fallbackTraceParent: fallback).traceParent?.headerValue, fallback)
        XCTAssertEqual(TraceHeaders.extract(from: headers, fallbackTraceParent: fallback).traceParent?.headerValue, Self.valid)
    }

    func testTheEnvelopeCarriesTraceHeadersOntoTheResult() throws {
        var request = ModerationRequest()
        request.text = "hello"
        let value = try ModerationCodec.encodeRequest(request, contentType: .protobuf)
        let envelope = try RequestEnvelope.open(
            value: value,
            headers: [KafkaHeader(key: "traceparent", string: Self.valid), KafkaHeader(key: "baggage", string: "a=b")])
        let sealed = ResultEnvelope.seal(
            [], contentType: .protobuf, requestID: "r", eventID: "t/0/0", trace: envelope.trace, options: ResultEnvelopeOptions())
        XCTAssertEqual(sealed.headers, [
            KafkaHeader(key: "content-type", string: "application/x-protobuf"),
            KafkaHeader(key: "traceparent", string: Self.valid),
            KafkaHeader(key: "baggage", string: "a=b"),
        ])
        // Invalid trace headers never fail the request.
        let tolerant = try RequestEnvelope.open(value: value, headers: [KafkaHeader(key: "traceparent", string: "garbage")])
        XCTAssertNil(tolerant.trace.traceParent)
        XCTAssertEqual(try tolerant.decodeRequest().text, "hello")
    }
}
