import Foundation
import Kafka
import ModerationProto
import XCTest

/// Issue 21: fuzzes what a request record brings besides its value's encoding — the whole
/// `RequestEnvelope.open` (trace headers, `ce_*` attributes, Schema Registry framing,
/// content type) — and the linear-time reply-to matcher, pattern and name both hostile.
final class EnvelopeAndPatternFuzzTests: XCTestCase {
    /// Input layout: a header count byte, then per header a key length byte, the key, a value
    /// length byte (255 = null value) and the value; the rest is the record value.
    private static func record(_ bytes: [UInt8]) -> (headers: [KafkaHeader], value: [UInt8]) {
        var index = 0
        func take(_ count: Int) -> [UInt8] {
            let end = min(bytes.count, index + count)
            defer { index = end }
            return Array(bytes[index..<end])
        }
        var headers: [KafkaHeader] = []
        let count = Int(take(1).first ?? 0) % 12
        for _ in 0..<count {
            let key = String(decoding: take(Int(take(1).first ?? 0)), as: UTF8.self)
            let length = take(1).first ?? 0
            headers.append(KafkaHeader(key: key, value: length == 255 ? nil : take(Int(length))))
        }
        return (headers, Array(bytes[min(index, bytes.count)...]))
    }

    private static func encode(_ headers: [(String, String?)], value: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(headers.count)]
        for (key, header) in headers {
            bytes.append(UInt8(key.utf8.count))
            bytes += Array(key.utf8)
            if let header {
                bytes.append(UInt8(header.utf8.count))
                bytes += Array(header.utf8)
            } else {
                bytes.append(255)
            }
        }
        return bytes + value
    }

    func testRequestEnvelopeOpen() throws {
        var request = ModerationRequest()
        request.id = "r1"
        request.text = "hello"
        request.metadata = ["k": "v"]
        let protobuf = try ModerationCodec.encodeRequest(request, contentType: .protobuf)
        let json = try ModerationCodec.encodeRequest(request, contentType: .json)
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let seeds: [[UInt8]] = [
            Self.encode([], value: protobuf),
            Self.encode([("content-type", "application/json"), ("traceparent", trace), ("tracestate", "a=1,b=2"), ("baggage", "k=v;p")], value: json),
            Self.encode(
                [("ce_specversion", "1.0"), ("ce_id", "e1"), ("ce_source", "/s"), ("ce_type", "t"), ("content-type", "application/x-protobuf"),
                 ("ce_traceparent", trace), ("ce_time", "2025-01-31T12:00:00Z")], value: protobuf),
            Self.encode([("content-type", "application/cloudevents+json")],
                        value: Array(#"{"specversion":"1.0","id":"e","source":"/s","type":"t","data":{"text":"hi"}}"#.utf8)),
            Self.encode([("x", nil), ("content-type", "application/x-protobuf")], value: protobuf),
        ]
        let dictionary: [[UInt8]] = ["ce_", "content-type", "traceparent", "tracestate", "baggage", "application/json",
                                     "application/cloudevents+json", "specversion", "1.0", "data_base64", "00-", "-01", "=", ",", ";",
                                     "\u{0}", "\u{FF}"].map { Array($0.utf8) } + [[0, 0, 0, 0, 1], [0, 0, 0, 0, 7, 0], [0, 0, 0, 0, 9, 2, 2, 4], [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]]
        let target = FuzzTarget(name: "request-envelope", seeds: seeds, dictionary: dictionary, maxLength: 1 << 13) { bytes in
            let (headers, value) = Self.record(bytes)
            for options in [EnvelopeOptions(), EnvelopeOptions(defaultContentType: .json)] {
                guard let opened = try? RequestEnvelope.open(value: value, headers: headers, options: options) else { continue }
                _ = opened.trace
                if let decoded = try? opened.decodeRequest() {
                    _ = try? ModerationCodec.validate(decoded, maxTextBytes: 1 << 16)
                    return true
                }
            }
            return false
        }
        let report = Fuzzer.fromEnvironment().run(target)
        XCTAssertGreaterThan(report.accepted, 0)
        XCTAssertGreaterThan(report.rejected, 0)
    }

    /// Pattern and name separated by a 0 byte. A case must finish (the watchdog ends the
    /// process on a hang); for short names of topic characters the verdict must equal the
    /// backtracking engine's on every pattern both accept.
    func testReplyToMatcher() throws {
        let seeds: [[UInt8]] = [
            "(r[a-z]+)+-out|.*\0" + String(repeating: "r", count: 60) + ".", "replies-.*\0replies-a", "^mod-[a-z0-9._-]+$\0mod-x",
            "(a|aa)+b\0aaaaaaaaaaaaaaaaaaaaaaaaaaaaac", "a{2,5}(?:b|c)*?\0aabcb", "[^a-c]\\d\\w\0x9_", "(x*)*y\0xxxxxxxxxxxxxxxxxxxxxxxxxx",
        ].map { Array($0.utf8) }
        let dictionary: [[UInt8]] = ["(", ")", "(?:", "|", "*", "+", "?", "{2}", "{1,}", "{0,3}", "[", "]", "[^", "-", ".", "\\", "\\d", "\\w",
                                     "^", "$", "\0"].map { Array($0.utf8) }
        let alphabet = Set("ab.-_0xyrmo".utf8)
        let target = FuzzTarget(name: "reply-to-pattern", seeds: seeds, dictionary: dictionary, maxLength: 600) { bytes in
            let split = bytes.firstIndex(of: 0) ?? bytes.endIndex
            let patternText = String(decoding: bytes[..<split], as: UTF8.self)
            let name = String(decoding: bytes[min(split + 1, bytes.count)...].prefix(300), as: UTF8.self)
            guard let pattern = try? TopicPattern(patternText) else { return false }
            let verdict = pattern.matches(name)
            _ = (try? TopicPattern(subscription: "^" + patternText))?.matches(name)
            if name.utf8.count <= 10, name.utf8.allSatisfy(alphabet.contains), patternText.utf8.count <= 40,
                let regex = try? Regex(patternText)
            {
                let expected = (try? regex.wholeMatch(in: name)) != nil
                if expected != verdict {
                    throw FuzzInvariantViolation(description: "'\(patternText)' on '\(name)': \(verdict), Regex says \(expected)")
                }
            }
            return true
        }
        let report = Fuzzer.fromEnvironment().run(target)
        XCTAssertGreaterThan(report.accepted, 0)
    }
}
