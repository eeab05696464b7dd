import Foundation
import ModerationProto
import XCTest

/// Fuzzes what every Kafka message brings: the request value in both encodings, and the
/// `content-type` and `deadline` header values.
final class RequestFuzzTests: XCTestCase {
    private func requests() -> [ModerationRequest] {
        var full = ModerationRequest()
        full.id = "req-1"
        full.text = "héllo wörld 🌍 — how do I pick a lock?"
        full.threshold = 0.25
        full.metadata = ["tenant": "acme", "ünï": "cödé"]
        var bare = ModerationRequest()
        bare.text = "x"
        var long = ModerationRequest()
        long.id = String(repeating: "i", count: 40)
        long.text = String(repeating: "word ", count: 60)
        long.metadata = Dictionary(uniqueKeysWithValues: (0 ..< 8).map { ("k\($0)", "v\($0)") })
        return [full, bare, long]
    }

    private func result() -> ModerationResult {
        var result = ModerationResult()
        result.requestID = "req-1"
        result.status.code = .ok
        result.probabilities = (0 ..< 12).map { Float($0) / 12 }
        result.maxProbability = 0.9
        result.unsafe = true
        result.categories = [.violentCrimes, .hate]
        result.threshold = 0.5
        result.tokenCount = 17
        result.metadata = ["tenant": "acme"]
        return result
    }

    /// Decodes `bytes` as a request, then as a result; true if the request decoded.
    private func decodeBoth(_ bytes: [UInt8], _ contentType: ContentType) -> Bool {
        _ = try? ModerationCodec.decodeResult(bytes, contentType: contentType)
        guard let request = try? ModerationCodec.decodeRequest(bytes, contentType: contentType) else { return false }
        _ = try? ModerationCodec.validate(request, maxTextBytes: 1 << 20)
        _ = ModerationCodec.requestID(of: request, topic: "t", partition: 0, offset: 1)
        _ = try? ModerationCodec.encodeRequest(request, contentType: contentType)
        return true
    }

    func testRequestJSON() throws {
        var seeds = try requests().map { try ModerationCodec.encodeRequest($0, contentType: .json) }
        seeds.append(try ModerationCodec.encodeResult(result(), contentType: .json))
        seeds.append(Array(#"{"id": "a\ud83d\ude00", "text": "\u00e9\"\\", "threshold": "NaN", "metadata": {}, "unknown": [1, {"x": null}]}"#.utf8))
        let dictionary: [[UInt8]] = ["{", "}", "[", "]", "\"", ":", ",", "null", "true", "false", "\\u0000", "\\ud800", "\\udc00",
                                     "\"id\"", "\"text\"", "\"threshold\"", "\"metadata\"", "\"NaN\"", "\"Infinity\"", "1e39", "-0"]
            .map { Array($0.utf8) }
        let target = FuzzTarget(name: "request-json", seeds: seeds, dictionary: dictionary, maxLength: 1 << 14) { bytes in
            self.decodeBoth(bytes, .json) || (try? ModerationCodec.decodeResult(bytes, contentType: .json)) != nil
        }
        let report = Fuzzer.fromEnvironment().run(target)
        XCTAssertGreaterThan(report.rejected, 0)
    }

    func testRequestProtobuf() throws {
        var seeds = try requests().map { try ModerationCodec.encodeRequest($0, contentType: .protobuf) }
        seeds.append(try ModerationCodec.encodeResult(result(), contentType: .protobuf))
        // Field tags, varint boundaries and lengths of the wire format.
        let dictionary: [[UInt8]] = [[0x0A], [0x12], [0x1D], [0x22], [0x80, 0x80, 0x80, 0x80, 0x10], [0xFF, 0xFF, 0xFF, 0xFF, 0x0F],
                                     [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], [0x7F], [0x00, 0x00, 0xC0, 0x7F]]
        let target = FuzzTarget(name: "request-protobuf", seeds: seeds, dictionary: dictionary, maxLength: 1 << 14) { bytes in
            self.decodeBoth(bytes, .protobuf) || (try? ModerationCodec.decodeResult(bytes, contentType: .protobuf)) != nil
        }
        let report = Fuzzer.fromEnvironment().run(target)
        XCTAssertGreaterThan(report.rejected, 0)
    }

    /// Header values arrive as bytes; the worker makes them strings (invalid UTF-8 repaired or
    /// refused) and parses them.
    func testHeaders() {
        let seeds = ["application/json", "application/x-protobuf; charset=utf-8", " APPLICATION/PROTOBUF ", "",
                     "2025-01-31T12:00:00Z", "2025-01-31t12:00:00.250+01:00", "2024-02-29 23:59:60.123456789123-23:59",
                     "1738324800000", "999999999999999"].map { Array($0.utf8) }
        let dictionary: [[UInt8]] = [";", "/", "+", "-", ":", ".", "T", "Z", " ", "\t", "60", "99", "0000", "9999999999999999"]
            .map { Array($0.utf8) }
        let target = FuzzTarget(name: "headers", seeds: seeds, dictionary: dictionary, maxLength: 256) { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            let contentType = try? ContentType.parse(text)
            let deadline = DeadlineHeader.parse(text)
            if let strict = String(validating: bytes, as: UTF8.self) {
                _ = (try? ContentType.parse(strict), DeadlineHeader.parse(strict))
            }
            return contentType != nil || deadline != nil || bytes.isEmpty
        }
        let report = Fuzzer.fromEnvironment().run(target)
        XCTAssertGreaterThan(report.rejected, 0)
    }
}
