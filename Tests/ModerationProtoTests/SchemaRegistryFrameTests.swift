import Foundation
import KafkaHeaders
import ModerationProto
import TestSupport
import XCTest

/// Confluent Schema Registry framing, against bytes written by Confluent's own serializers
/// (Tests/Fixtures/interop, scripts/interop-fixtures.py) and against hostile frames.
final class SchemaRegistryFrameTests: XCTestCase {
    let none: [KafkaHeader] = []

    // MARK: Golden input

    func testConfluentProtobufRequestIsUnframedAndDecoded() throws {
        let fixture = try InteropFixture("sr-protobuf-request")
        XCTAssertEqual(Array(fixture.value.prefix(6)), [0x00, 0, 0, 0, 12, 0x00], "magic, id 12, index [0] as one byte")
        // Confluent sets no content-type: the default (protobuf) applies.
        let envelope = try RequestEnvelope.open(value: fixture.value, headers: fixture.headers)
        XCTAssertEqual(envelope.schemaFrame, SchemaRegistryFrame(schemaID: 12, messageIndexes: [0]))
        XCTAssertEqual(envelope.contentType, .protobuf)
        XCTAssertEqual(envelope.payload, Array(fixture.value.dropFirst(6)))
        let request = try envelope.decodeRequest()
        XCTAssertEqual(request.id, "sr-1")
        XCTAssertEqual(request.text, "hello from a Confluent producer")
    }

    func testConfluentJSONSchemaRequestNeedsTheJSONDefaultAndHasNoIndexList() throws {
        let fixture = try InteropFixture("sr-json-request")
        let options = EnvelopeOptions(defaultContentType: .json)
        let envelope = try RequestEnvelope.open(value: fixture.value, headers: fixture.headers, options: options)
        XCTAssertEqual(envelope.schemaFrame, SchemaRegistryFrame(schemaID: 14, messageIndexes: nil))
        XCTAssertEqual(envelope.contentType, .json)
        let request = try envelope.decodeRequest()
        XCTAssertEqual(request.id, "sr-json-1")
        XCTAssertEqual(request.metadata, ["app": "chat"])
        // The same record under the protobuf default: the '{' after the id is read as an index
        // count (-62), which the error explains rather than decoding garbage.
        assertDecodeErrorCode("SCHEMA_REGISTRY_FRAMING") { () throws(ModerationDecodeError) in
            try RequestEnvelope.open(value: fixture.value, headers: none)
        }
        do {
            _ = try RequestEnvelope.open(value: fixture.value, headers: none)
            XCTFail("a JSON Schema frame read as protobuf was accepted")
        } catch {
            XCTAssertTrue(error.description.contains("JSON Schema frame read as protobuf"), error.description)
        }
        // An explicit header wins over the default.
        let headed = try RequestEnvelope.open(
            value: fixture.value, headers: [KafkaHeader(key: "content-type", string: "application/json")])
        XCTAssertEqual(try headed.decodeRequest().text, "hello from a JSON Schema producer")
    }

    func testAnotherMessageOfTheSchemaIsRefused() throws {
        let fixture = try InteropFixture("sr-protobuf-wrong-message")
        assertDecodeError(.schemaMessageIndex([3])) { () throws(ModerationDecodeError) in
            try RequestEnvelope.open(value: fixture.value, headers: none)
        }
        // Nested paths are other messages too: [0, 0] is ModerationRequest.MetadataEntry.
        let nested: [UInt8] = [0, 0, 0, 0, 12, 0x04, 0x00, 0x00, 0x0A, 0x01, 0x61]
        assertDecodeError(.schemaMessageIndex([0, 0])) { () throws(ModerationDecodeError) in
            try RequestEnvelope.open(value: nested, headers: none)
        }
        // The long form of [0] (count 1, index 0) is the request.
        let long: [UInt8] = [0, 0, 0, 0, 12, 0x02, 0x00, 0x12, 0x02, 0x68, 0x69]
        XCTAssertEqual(try RequestEnvelope.open(value: long, headers: none).decodeRequest().text, "hi")
        // A schema file where the request sits elsewhere: the operator says where.
        let options = EnvelopeOptions(requestMessageIndexes: [3])
        XCTAssertEqual(try RequestEnvelope.open(value: fixture.value, headers: none, options: options).schemaFrame?.messageIndexes, [3])
    }

    func testAllowList() throws {
        let fixture = try InteropFixture("sr-protobuf-request")
        let allowed = EnvelopeOptions(allowedSchemaIDs: [12, 13])
        XCTAssertEqual(try RequestEnvelope.open(value: fixture.value, headers: none, options: allowed).schemaFrame?.schemaID, 12)
        let other = EnvelopeOptions(allowedSchemaIDs: [13])
        assertDecodeError(.schemaIDNotAllowed(12)) { () throws(ModerationDecodeError) in
            try RequestEnvelope.open(value: fixture.value, headers: none, options: other)
        }
        // Unframed values are not subject to the allow-list: framing stays optional.
        var request = ModerationRequest()
        request.text = "plain"
        let plain = try ModerationCodec.encodeRequest(request, contentType: .protobuf)
        XCTAssertNil(try RequestEnvelope.open(value: plain, headers: none, options: other).schemaFrame)
        XCTAssertEqual(EnvelopeOptions.parseSchemaIDs("12, 13,4294967295"), [12, 13, 4_294_967_295])
        for bad in ["", "12,", "-1", "4294967296", "x", "1 2", "+5"] {
            XCTAssertNil(EnvelopeOptions.parseSchemaIDs(bad), bad)
        }
    }

    // MARK: Golden output

    func testResultFramingIsWhatConfluentsSerializerWrites() throws {
        let fixture = try InteropFixture("sr-protobuf-result")
        var result = ModerationResult()
        result.requestID = "sr-1"
        result.probabilities = [0.75, 0.125]
        result.maxProbability = 0.75
        result.unsafe = true
        result.categories = [.violentCrimes]
        result.categoryNames = ["Violent crimes"]
        result.threshold = 0.5
        result.tokenCount = 9
        result.workerID = "w-1"
        var score = CategoryScore()
        score.category = .violentCrimes
        score.name = "Violent crimes"
        score.probability = 0.75
        result.scores = [score]
        let encoded = try ModerationCodec.encodeResult(result, contentType: .protobuf)
        let sealed = ResultEnvelope.seal(
            encoded, contentType: .protobuf, requestID: "sr-1", eventID: "t/0/1", trace: TraceHeaders(),
            options: ResultEnvelopeOptions(schemaID: 13))
        XCTAssertEqual(sealed.value, fixture.value, "byte for byte what Confluent's ProtobufSerializer wrote")
        XCTAssertEqual(sealed.headers, [KafkaHeader(key: "content-type", string: "application/x-protobuf")])
        // And it opens again as a result: index [1], the second message of moderation.proto.
        let frame = try SchemaRegistryFrame.parse(sealed.value, contentType: .protobuf)
        XCTAssertEqual(frame.frame, SchemaRegistryFrame(schemaID: 13, messageIndexes: [1]))
        XCTAssertEqual(try ModerationCodec.decodeResult(Array(sealed.value[frame.payloadStart...]), contentType: .protobuf), result)
    }

    func testJSONResultFramingHasNoIndexList() throws {
        let fixture = try InteropFixture("sr-json-result")
        var result = ModerationResult()
        result.requestID = "sr-json-1"
        result.maxProbability = 0.25
        result.threshold = 0.5
        result.status = ModerationStatus()
        let encoded = try ModerationCodec.encodeResult(result, contentType: .json)
        let sealed = ResultEnvelope.seal(
            encoded, contentType: .json, requestID: "sr-json-1", eventID: "t/0/1", trace: TraceHeaders(),
            options: ResultEnvelopeOptions(schemaID: 15))
        XCTAssertEqual(Array(sealed.value.prefix(5)), Array(fixture.value.prefix(5)), "magic byte and schema id 15")
        // The JSON after the prefix is the same document (Python's spacing differs).
        let ours = try JSONSerialization.jsonObject(with: Data(sealed.value.dropFirst(5))) as? NSDictionary
        let theirs = try JSONSerialization.jsonObject(with: Data(fixture.value.dropFirst(5))) as? NSDictionary
        XCTAssertEqual(ours, theirs)
    }

    func testFrameBytesRoundTrip() throws {
        for indexes in [[0], [1], [3, 0, 2], [Int32.max, 0], [64, 8191]] as [[Int32]] {
            let frame = SchemaRegistryFrame(schemaID: 0xFEDC_BA98, messageIndexes: indexes)
            let bytes = frame.framing([0x0A, 0x00])
            let parsed = try SchemaRegistryFrame.parse(bytes, contentType: .protobuf)
            XCTAssertEqual(parsed.frame, frame)
            XCTAssertEqual(Array(bytes[parsed.payloadStart...]), [0x0A, 0x00])
        }
        XCTAssertEqual(SchemaRegistryFrame(schemaID: 1, messageIndexes: [0]).bytes, [0, 0, 0, 0, 1, 0])
        XCTAssertEqual(SchemaRegistryFrame(schemaID: 1, messageIndexes: nil).bytes, [0, 0, 0, 0, 1])
    }

    // MARK: Hostile frames

    func testTruncatedAndMalformedFramesAreFramingErrors() {
        let cases: [(String, [UInt8])] = [
            ("magic only", [0x00]),
            ("header cut", [0x00, 0, 0, 12]),
            ("no index list", [0x00, 0, 0, 0, 12]),
            ("varint cut", [0x00, 0, 0, 0, 12, 0x80]),
            ("varint over 32 bits", [0x00, 0, 0, 0, 12, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F]),
            ("six-byte varint", [0x00, 0, 0, 0, 12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
            ("negative count", [0x00, 0, 0, 0, 12, 0x01]),
            ("most negative count", [0x00, 0, 0, 0, 12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
            ("huge count", [0x00, 0, 0, 0, 12, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F]),
            ("count over the limit", [0x00, 0, 0, 0, 12, 0xCA, 0x01] + [UInt8](repeating: 0, count: 200)),
            ("count beyond the bytes", [0x00, 0, 0, 0, 12, 0x0A, 0x00, 0x00]),
            ("index cut", [0x00, 0, 0, 0, 12, 0x04, 0x00, 0x80]),
            ("negative index", [0x00, 0, 0, 0, 12, 0x02, 0x03]),
        ]
        for (name, bytes) in cases {
            assertDecodeErrorCode("SCHEMA_REGISTRY_FRAMING") { () throws(ModerationDecodeError) in
                try RequestEnvelope.open(value: bytes, headers: none)
            }
            XCTAssertThrowsError(try SchemaRegistryFrame.parse(bytes, contentType: .protobuf), name)
        }
        // JSON frames need only the 5-byte header; an empty JSON payload is then undecodable.
        assertDecodeErrorCode("SCHEMA_REGISTRY_FRAMING") { () throws(ModerationDecodeError) in
            try RequestEnvelope.open(value: [0x00, 0, 0], headers: none, options: EnvelopeOptions(defaultContentType: .json))
        }
        assertDecodeErrorCode("UNDECODABLE") { () throws(ModerationDecodeError) in
            try RequestEnvelope.open(value: [0x00, 0, 0, 0, 1], headers: none, options: EnvelopeOptions(defaultContentType: .json))
                .decodeRequest()
        }
    }

    func testWrongMagicIsNotAFrame() throws {
        // Only 0x00 starts a frame; Confluent's 0x01 (schema GUID) framing lives in a header
        // (`__value_schema_id`), not the value. A value starting 0x01 is plain (bad) protobuf.
        XCTAssertFalse(SchemaRegistryFrame.isFramed([0x01, 0, 0, 0, 12]))
        XCTAssertThrowsError(try SchemaRegistryFrame.parse([0x01, 0, 0, 0, 12, 0], contentType: .protobuf))
        assertDecodeErrorCode("UNDECODABLE") { () throws(ModerationDecodeError) in
            try RequestEnvelope.open(value: [0x01, 0, 0, 0, 12, 0], headers: none).decodeRequest()
        }
    }

    func testRandomFramesNeverTrapAndAlwaysAnswerWithACode() {
        var generator = SplitMix64(seed: 11)
        var outcomes: [String: Int] = [:]
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 24)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if !bytes.isEmpty { bytes[0] = 0x00 }
            do {
                let envelope = try RequestEnvelope.open(value: bytes, headers: none)
                _ = try envelope.decodeRequest()
                outcomes["decoded", default: 0] += 1
            } catch {
                outcomes[error.code, default: 0] += 1
            }
        }
        XCTAssertGreaterThan(outcomes["SCHEMA_REGISTRY_FRAMING", default: 0], 0)
        XCTAssertGreaterThan(outcomes["SCHEMA_MESSAGE_INDEX", default: 0], 0)
        XCTAssertEqual(outcomes.values.reduce(0, +), 20_000)
    }
}
