import JSONScanning
import XCTest

/// The shared grammar on its own: what the tokenizer loader, structured CloudEvents and the
/// CLI's JSON lines all rely on (their own tests cover it through them).
final class JSONReaderTests: XCTestCase {
    struct Failure: JSONSyntaxFailure, Equatable {
        let detail: String
        let offset: Int
        static func jsonSyntax(_ detail: String, at offset: Int) -> Failure { Failure(detail: detail, offset: offset) }
    }

    func read(_ text: String, maxDepth: Int = JSONReader<Failure>.defaultMaxDepth) throws(Failure) -> JSONValue {
        let bytes = Array(text.utf8)
        let result = bytes.withUnsafeBufferPointer { buffer -> Result<JSONValue, Failure> in
            var reader = JSONReader<Failure>(buffer, maxDepth: maxDepth)
            do throws(Failure) {
                let value = try reader.readValue()
                try reader.expectEnd()
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    func failure(_ text: String, maxDepth: Int = 64) -> Failure? {
        do throws(Failure) {
            _ = try read(text, maxDepth: maxDepth)
            return nil
        } catch {
            return error
        }
    }

    func testValues() throws {
        let value = try read(#" {"a": [1, -2.5e3, true, false, null], "b": "x\u00e9\ud83c\udf0a\n"} "#)
        XCTAssertEqual(value["a"], .array([.number(1), .number(-2500), .bool(true), .bool(false), .null]))
        XCTAssertEqual(value["b"]?.string, "xé🌊\n")
        XCTAssertEqual(try read("0").int, 0)
        XCTAssertNil(try read("1.5").int, "a fraction is not an id")
    }

    /// Numbers follow RFC 8259's grammar exactly (the tokenizer's reader used to hand any run
    /// of number characters to `Double(_:)`, which takes `+1` and `01`).
    func testNumberGrammarIsStrict() {
        for bad in ["+1", "01", "1.", ".5", "-", "1e", "1e+", "--1", "0x10"] {
            XCTAssertNotNil(failure(bad), bad)
        }
        for good in ["0", "-0", "10", "0.5", "1e5", "1E-5", "-12.5e+3"] {
            XCTAssertNil(failure(good), good)
        }
    }

    func testHostileStrings() {
        XCTAssertEqual(failure("\"abc"), Failure(detail: "unterminated string", offset: 4))
        XCTAssertNotNil(failure("\"a\u{01}b\""), "control character")
        XCTAssertNotNil(failure(#""\ud800""#), "lone high surrogate")
        XCTAssertNotNil(failure(#""\udc00""#), "lone low surrogate")
        XCTAssertNotNil(failure(#""\ud800\u0041""#), "high surrogate without a low one")
        XCTAssertNotNil(failure(#""\q""#), "unknown escape")
        XCTAssertNotNil(failure(#""\u12""#), "truncated escape")
        XCTAssertNotNil(failure("{\"a\":1,}"), "trailing comma")
        XCTAssertNotNil(failure("{a:1}"), "unquoted name")
        XCTAssertNotNil(failure("[1] 2"), "text after the value")
        XCTAssertNotNil(failure(""), "empty")
    }

    func testDepthLimit() {
        XCTAssertNil(failure(String(repeating: "[", count: 8) + String(repeating: "]", count: 8), maxDepth: 8))
        let beyond = failure(String(repeating: "[", count: 9) + String(repeating: "]", count: 9), maxDepth: 8)
        XCTAssertEqual(beyond?.detail, "nesting too deep (more than 8 levels)")
        // 100k levels fail at the limit instead of recursing through the stack.
        XCTAssertNotNil(failure(String(repeating: "[", count: 100_000)))
    }

    /// `skipValue` validates without decoding and reports the kind; `position` before and
    /// after gives the value's exact bytes (how a CloudEvent's `data` is passed on verbatim).
    func testSkipValueReportsKindAndRange() throws {
        let text = Array(#"[ {"k": [1, 2.0]} , "s\"" ,1.50, true, null ]"#.utf8)
        var seen: [(JSONKind, String)] = []
        let result = text.withUnsafeBufferPointer { buffer -> Result<Void, Failure> in
            var reader = JSONReader<Failure>(buffer)
            do throws(Failure) {
                try reader.readArray { (reader: inout JSONReader<Failure>) throws(Failure) in
                    _ = reader.peek()
                    let start = reader.position
                    let kind = try reader.skipValue()
                    seen.append((kind, String(decoding: buffer[start..<reader.position], as: UTF8.self)))
                }
                try reader.expectEnd()
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        XCTAssertEqual(seen.map(\.0), [.object, .string, .number, .bool, .null])
        XCTAssertEqual(seen.map(\.1), [#"{"k": [1, 2.0]}"#, #""s\"""#, "1.50", "true", "null"])
    }
}
