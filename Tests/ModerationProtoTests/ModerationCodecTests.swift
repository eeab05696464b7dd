import XCTest
import ModerationProto

final class ModerationCodecTests: XCTestCase {
    // MARK: Fixtures

    /// A request with every field set, including non-ASCII text.
    private func fullRequest() -> ModerationRequest {
        var request = ModerationRequest()
        request.id = "req-1"
        request.text = "héllo wörld 🌍 — how do I pick a lock?"
        request.threshold = 0.25
        request.metadata = ["tenant": "acme", "app": "chat", "ünï": "cödé"]
        return request
    }

    /// Probabilities that are exact in binary and short in decimal, so the hand-written JSON
    /// below does not depend on float formatting choices.
    private let probabilities: [Float] = [
        0.75, 0.125, 0.0625, 0.03125, 0.015625, 0.5, 0.25, 0.375, 0.625, 0.875, 0.1875, 0.3125,
    ]

    /// The model's category names (DuoGuardModel.categoryNames; this module does not know the model).
    private static let names = [
        "Violent crimes", "Non-violent crimes", "Sex-related crimes", "Child sexual exploitation", "Specialized advice",
        "Privacy", "Intellectual property", "Indiscriminate weapons", "Hate", "Suicide and self-harm", "Sexual content",
        "Jailbreak prompts",
    ]

    /// A result with every field set, as the worker would fill it.
    private func fullResult() -> ModerationResult {
        var result = ModerationResult()
        result.requestID = "req-1"
        result.status.code = .ok
        result.probabilities = probabilities
        result.scores = probabilities.enumerated().map { index, probability in
            var score = CategoryScore()
            score.category = ModerationCategory(modelIndex: index) ?? .unspecified
            score.name = Self.names[index]
            score.probability = probability
            return score
        }
        result.maxProbability = 0.875
        result.unsafe = true
        result.categories = [.violentCrimes, .hate, .suicideAndSelfHarm]
        result.categoryNames = ["Violent crimes", "Hate", "Suicide and self-harm"]
        result.threshold = 0.5
        result.model.name = "DuoGuard-1B-Llama-3.2-transfer"
        result.model.quantization = "Q8_0"
        result.model.fileSha256 = "9f86d081"
        result.tokenCount = 17
        result.truncated = true
        result.source.topic = "moderation.requests"
        result.source.partition = 3
        result.source.offset = 42
        result.workerID = "worker-0"
        result.queueMs = 12.5
        result.inferenceMs = 3.25
        result.metadata = ["tenant": "acme", "app": "chat"]
        result.windows = 2
        result.categoryThresholds = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.5, 0.5, 0.5]
        return result
    }

    private func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

    private func assertDecodeError(
        _ value: [UInt8],
        _ contentType: ContentType,
        _ expected: ModerationDecodeError,
        file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertThrowsError(try ModerationCodec.decodeRequest(value, contentType: contentType),
                             file: file, line: line) { error in
            XCTAssertEqual(error as? ModerationDecodeError, expected, file: file, line: line)
        }
    }

    private func assertUndecodable(
        _ value: [UInt8],
        _ contentType: ContentType,
        file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertThrowsError(try ModerationCodec.decodeRequest(value, contentType: contentType),
                             file: file, line: line) { error in
            guard case .undecodable(let detail)? = error as? ModerationDecodeError else {
                return XCTFail("expected .undecodable, got \(error)", file: file, line: line)
            }
            XCTAssertFalse(detail.isEmpty, file: file, line: line)
            XCTAssertEqual((error as? ModerationDecodeError)?.code, "UNDECODABLE", file: file, line: line)
        }
    }

    // MARK: Round trips

    func testRequestRoundTripsInBothEncodings() throws {
        let request = fullRequest()
        for contentType in ContentType.allCases {
            let value = try ModerationCodec.encodeRequest(request, contentType: contentType)
            XCTAssertEqual(try ModerationCodec.decodeRequest(value, contentType: contentType), request)
        }
    }

    func testResultRoundTripsInBothEncodings() throws {
        let result = fullResult()
        for contentType in ContentType.allCases {
            let value = try ModerationCodec.encodeResult(result, contentType: contentType)
            let decoded = try ModerationCodec.decodeResult(value, contentType: contentType)
            XCTAssertEqual(decoded, result)
            XCTAssertTrue(decoded.hasStatus)
            XCTAssertTrue(decoded.hasModel)
            XCTAssertTrue(decoded.hasSource)
        }
    }

    func testEncodingIsDeterministic() throws {
        let result = fullResult()
        for contentType in ContentType.allCases {
            let first = try ModerationCodec.encodeResult(result, contentType: contentType)
            for _ in 0..<5 {
                XCTAssertEqual(try ModerationCodec.encodeResult(result, contentType: contentType), first)
            }
        }
    }

    func testAbsentThresholdDiffersFromZero() throws {
        var request = ModerationRequest()
        request.text = "x"
        request.threshold = 0
        for contentType in ContentType.allCases {
            let value = try ModerationCodec.encodeRequest(request, contentType: contentType)
            let decoded = try ModerationCodec.decodeRequest(value, contentType: contentType)
            XCTAssertTrue(decoded.hasThreshold)
            XCTAssertEqual(decoded.threshold, 0)
        }
        request.clearThreshold()
        let value = try ModerationCodec.encodeRequest(request, contentType: .json)
        XCTAssertFalse(try ModerationCodec.decodeRequest(value, contentType: .json).hasThreshold)
    }

    // MARK: Hand-written wire values

    /// Field numbers and wire types, written by hand from the .proto and the protobuf
    /// encoding spec: a renumbering would break every deployed producer, so it must fail here.
    func testRequestProtobufBytesMatchTheSchema() throws {
        let expected: [UInt8] = [
            0x0A, 0x01, 0x61,                    // 1: id = "a"
            0x12, 0x02, 0x68, 0x69,              // 2: text = "hi"
            0x1D, 0x00, 0x00, 0x00, 0x3F,        // 3: threshold = 0.5 (fixed32)
            0x22, 0x06, 0x0A, 0x01, 0x6B, 0x12, 0x01, 0x76, // 4: metadata {"k": "v"}
        ]
        var request = ModerationRequest()
        request.id = "a"
        request.text = "hi"
        request.threshold = 0.5
        request.metadata = ["k": "v"]
        XCTAssertEqual(try ModerationCodec.encodeRequest(request, contentType: .protobuf), expected)
        XCTAssertEqual(try ModerationCodec.decodeRequest(expected, contentType: .protobuf), request)
    }

    func testDecodesHandWrittenJSONRequest() throws {
        let request = try ModerationCodec.decodeRequest(
            bytes(#"{"id":"a","text":"hello","threshold":0.3,"metadata":{"k":"v"}}"#),
            contentType: .json
        )
        XCTAssertEqual(request.id, "a")
        XCTAssertEqual(request.text, "hello")
        XCTAssertTrue(request.hasThreshold)
        XCTAssertEqual(request.threshold, 0.3)
        XCTAssertEqual(request.metadata, ["k": "v"])
    }

    func testJSONRequestWithoutOptionalFieldsAndWithUnknownFields() throws {
        let request = try ModerationCodec.decodeRequest(
            bytes(#" { "text" : "hello", "priority": 7, "future": {"x": [1, 2]} } "#),
            contentType: .json
        )
        XCTAssertEqual(request.id, "")
        XCTAssertEqual(request.text, "hello")
        XCTAssertFalse(request.hasThreshold)
        XCTAssertTrue(request.metadata.isEmpty)
    }

    func testJSONRequestEncodesWithProto3Names() throws {
        var request = ModerationRequest()
        request.id = "a"
        request.text = "hello"
        request.threshold = 0.25
        request.metadata = ["k": "v", "b": "w"]
        let json = try ModerationCodec.encodeRequest(request, contentType: .json)
        XCTAssertEqual(
            String(decoding: json, as: UTF8.self),
            #"{"id":"a","text":"hello","threshold":0.25,"metadata":{"b":"w","k":"v"}}"#
        )
    }

    /// Written by hand from the proto3 JSON mapping: lowerCamelCase names, enums by name,
    /// int64 as a string, fields at their default omitted (status OK → `{}`, a zero
    /// probability has no "probability"), map keys sorted (our deterministic option).
    func testResultJSONIsTheProto3Mapping() throws {
        let expected = """
            {"requestId":"req-1","status":{},\
            "probabilities":[0.75,0.125,0.0625,0.03125,0.015625,0.5,0.25,0.375,0.625,0.875,0.1875,0.3125],\
            "scores":[\
            {"category":"VIOLENT_CRIMES","name":"Violent crimes","probability":0.75},\
            {"category":"NON_VIOLENT_CRIMES","name":"Non-violent crimes","probability":0.125},\
            {"category":"SEX_RELATED_CRIMES","name":"Sex-related crimes","probability":0.0625},\
            {"category":"CHILD_SEXUAL_EXPLOITATION","name":"Child sexual exploitation","probability":0.03125},\
            {"category":"SPECIALIZED_ADVICE","name":"Specialized advice","probability":0.015625},\
            {"category":"PRIVACY","name":"Privacy","probability":0.5},\
            {"category":"INTELLECTUAL_PROPERTY","name":"Intellectual property","probability":0.25},\
            {"category":"INDISCRIMINATE_WEAPONS","name":"Indiscriminate weapons","probability":0.375},\
            {"category":"HATE","name":"Hate","probability":0.625},\
            {"category":"SUICIDE_AND_SELF_HARM","name":"Suicide and self-harm","probability":0.875},\
            {"category":"SEXUAL_CONTENT","name":"Sexual content","probability":0.1875},\
            {"category":"JAILBREAK_PROMPTS","name":"Jailbreak prompts","probability":0.3125}],\
            "maxProbability":0.875,"unsafe":true,\
            "categories":["VIOLENT_CRIMES","HATE","SUICIDE_AND_SELF_HARM"],\
            "categoryNames":["Violent crimes","Hate","Suicide and self-harm"],\
            "threshold":0.5,\
            "model":{"name":"DuoGuard-1B-Llama-3.2-transfer","quantization":"Q8_0","fileSha256":"9f86d081"},\
            "tokenCount":17,"truncated":true,\
            "source":{"topic":"moderation.requests","partition":3,"offset":"42"},\
            "workerId":"worker-0","queueMs":12.5,"inferenceMs":3.25,\
            "metadata":{"app":"chat","tenant":"acme"},\
            "windows":2,\
            "categoryThresholds":[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.25,0.5,0.5,0.5]}
            """
        let json = try ModerationCodec.encodeResult(fullResult(), contentType: .json)
        XCTAssertEqual(String(decoding: json, as: UTF8.self), expected)
        // And a consumer's hand-written JSON decodes to the same message.
        XCTAssertEqual(try ModerationCodec.decodeResult(bytes(expected), contentType: .json), fullResult())
    }

    func testErrorResultJSON() throws {
        var result = ModerationResult()
        result.requestID = "requests/0/5"
        result.status.code = .invalidArgument
        result.status.message = ModerationDecodeError.missingText.description
        let json = try ModerationCodec.encodeResult(result, contentType: .json)
        XCTAssertEqual(
            String(decoding: json, as: UTF8.self),
            #"{"requestId":"requests/0/5","status":{"code":"INVALID_ARGUMENT","message":"request has no text"}}"#
        )
        result.status.code = .deadlineExceeded
        let deadline = try ModerationCodec.encodeResult(result, contentType: .json)
        XCTAssertTrue(String(decoding: deadline, as: UTF8.self).contains(#""code":"DEADLINE_EXCEEDED""#))
    }

    func testStatusCodesAreTheGRPCNumbers() {
        let expected: [(ModerationStatus.Code, Int)] = [
            (.ok, 0), (.cancelled, 1), (.unknown, 2), (.invalidArgument, 3), (.deadlineExceeded, 4),
            (.notFound, 5), (.alreadyExists, 6), (.permissionDenied, 7), (.resourceExhausted, 8),
            (.failedPrecondition, 9), (.aborted, 10), (.outOfRange, 11), (.unimplemented, 12),
            (.internal, 13), (.unavailable, 14), (.dataLoss, 15), (.unauthenticated, 16),
        ]
        for (code, number) in expected { XCTAssertEqual(code.rawValue, number, "\(code)") }
    }

    // MARK: Poison input

    func testGarbageProtobufIsUndecodable() {
        assertUndecodable([0x12, 0x05, 0x61], .protobuf)                 // length past the end
        assertUndecodable([0x0F], .protobuf)                             // wire type 7 does not exist
        assertUndecodable([UInt8](repeating: 0xFF, count: 11), .protobuf) // varint over 10 bytes
    }

    func testGarbageJSONIsUndecodable() {
        assertUndecodable(bytes("hello"), .json)
        assertUndecodable(bytes(""), .json)
        assertUndecodable(bytes("[1,2]"), .json)
        assertUndecodable(bytes(#"{"text":5}"#), .json)
        assertUndecodable(bytes(#"{"text":"a""#), .json)
        assertUndecodable(bytes(#"{"text":"a"} trailing"#), .json)
        assertUndecodable([0x0A, 0x01, 0x61], .json)  // protobuf sent as JSON
    }

    func testInvalidUTF8InJSON() {
        let invalid: [[UInt8]] = [
            bytes(#"{"id":"a","text":""#) + [0xFF] + bytes(#""}"#),       // byte never valid
            bytes(#"{"id":"a","text":""#) + [0xC3, 0x28] + bytes(#""}"#), // broken 2-byte sequence
            bytes(#"{"id":"a","text":""#) + [0xED, 0xA0, 0x80] + bytes(#""}"#), // UTF-8 surrogate
            bytes(#"{"id":"a","text":""#) + [0xC0, 0xAF] + bytes(#""}"#), // overlong "/"
            bytes(#"{"id":"a","text":"ok"}"#) + [0xE2, 0x82],              // truncated at the end
            bytes(#"{"id":"a","text":"\ud800"}"#),                         // lone high surrogate escape
            bytes(#"{"id":"a","text":"x\uDC00y"}"#),                      // lone low surrogate escape
            bytes(#"{"id":"a","text":"\ud800\u0041"}"#),                  // high not followed by low
        ]
        for value in invalid {
            assertDecodeError(value, .json, .invalidUTF8)
        }
    }

    func testValidEscapesAreNotMistakenForBadUTF8() throws {
        let pair = try ModerationCodec.decodeRequest(bytes(#"{"text":"\ud83c\udf0d \u00e9"}"#), contentType: .json)
        XCTAssertEqual(pair.text, "🌍 é")
        let escapedBackslash = try ModerationCodec.decodeRequest(bytes(#"{"text":"\\ud800"}"#), contentType: .json)
        XCTAssertEqual(escapedBackslash.text, #"\ud800"#)
        // A malformed escape that is not about surrogates stays "undecodable".
        assertUndecodable(bytes(#"{"text":"\x41"}"#), .json)
    }

    func testInvalidUTF8InProtobufStringField() {
        assertDecodeError([0x0A, 0x01, 0x61, 0x12, 0x02, 0xC3, 0x28], .protobuf, .invalidUTF8)
        assertDecodeError([0x0A, 0x01, 0xFF, 0x12, 0x01, 0x61], .protobuf, .invalidUTF8)
        // In a map value too.
        assertDecodeError([0x12, 0x01, 0x61, 0x22, 0x06, 0x0A, 0x01, 0x6B, 0x12, 0x01, 0xFF], .protobuf, .invalidUTF8)
    }

    func testMissingOrEmptyText() throws {
        let fromJSON = try ModerationCodec.decodeRequest(bytes(#"{"id":"a"}"#), contentType: .json)
        XCTAssertEqual(fromJSON.id, "a")
        XCTAssertThrowsError(try ModerationCodec.validate(fromJSON, maxTextBytes: 100)) { error in
            XCTAssertEqual(error as? ModerationDecodeError, .missingText)
        }
        let empty = try ModerationCodec.decodeRequest(bytes(#"{"id":"a","text":""}"#), contentType: .json)
        XCTAssertThrowsError(try ModerationCodec.validate(empty, maxTextBytes: 100)) { error in
            XCTAssertEqual(error as? ModerationDecodeError, .missingText)
        }
        // An empty protobuf value is a valid, empty message: it fails validation, not decoding.
        let none = try ModerationCodec.decodeRequest([], contentType: .protobuf)
        XCTAssertThrowsError(try ModerationCodec.validate(none, maxTextBytes: 100)) { error in
            XCTAssertEqual(error as? ModerationDecodeError, .missingText)
        }
    }

    func testTextLimitCountsUTF8Bytes() throws {
        var request = ModerationRequest()
        request.text = String(repeating: "a", count: 10)
        XCTAssertNoThrow(try ModerationCodec.validate(request, maxTextBytes: 10))
        request.text = String(repeating: "a", count: 11)
        XCTAssertThrowsError(try ModerationCodec.validate(request, maxTextBytes: 10)) { error in
            XCTAssertEqual(error as? ModerationDecodeError, .textTooLong(bytes: 11, limit: 10))
        }
        request.text = String(repeating: "é", count: 6) // 6 characters, 12 bytes
        XCTAssertThrowsError(try ModerationCodec.validate(request, maxTextBytes: 10)) { error in
            XCTAssertEqual(error as? ModerationDecodeError, .textTooLong(bytes: 12, limit: 10))
        }
    }

    func testErrorCodesAndMessages() {
        let cases: [(ModerationDecodeError, String)] = [
            (.unknownContentType("text/plain"), "UNKNOWN_CONTENT_TYPE"),
            (.undecodable("x"), "UNDECODABLE"),
            (.invalidUTF8, "INVALID_UTF8"),
            (.missingText, "MISSING_TEXT"),
            (.textTooLong(bytes: 11, limit: 10), "TEXT_TOO_LONG"),
        ]
        for (error, code) in cases {
            XCTAssertEqual(error.code, code)
            XCTAssertEqual(error.statusCode, .invalidArgument)
            XCTAssertFalse(error.description.isEmpty)
        }
        XCTAssertEqual(ModerationDecodeError.textTooLong(bytes: 11, limit: 10).description,
                       "text is 11 bytes, limit is 10")
        XCTAssertEqual(ModerationDecodeError.unknownContentType("text/plain").description,
                       #"unknown content-type "text/plain""#)
    }

    func testRequestIDFallsBackToKafkaPosition() {
        var request = ModerationRequest()
        XCTAssertEqual(
            ModerationCodec.requestID(of: request, topic: "requests", partition: 2, offset: 1234),
            "requests/2/1234"
        )
        request.id = "mine"
        XCTAssertEqual(ModerationCodec.requestID(of: request, topic: "requests", partition: 2, offset: 1234), "mine")
    }

    func testHeaderNames() {
        XCTAssertEqual(ModerationHeader.contentType, "content-type")
        XCTAssertEqual(ModerationHeader.correlationID, "correlation-id")
        XCTAssertEqual(ModerationHeader.replyTo, "reply-to")
        XCTAssertEqual(ModerationHeader.deadline, "deadline")
        XCTAssertEqual(
            [ModerationHeader.errorCode, ModerationHeader.errorMessage, ModerationHeader.sourceTopic,
             ModerationHeader.sourcePartition, ModerationHeader.sourceOffset],
            ["error-code", "error-message", "source-topic", "source-partition", "source-offset"]
        )
    }
}
