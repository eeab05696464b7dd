import Foundation
import TestSupport
import XCTest

@testable import Tokenizer

/// Crafted tokenizer.json files whose numbers are chosen to make the loader allocate far
/// more than the file holds, or to recurse past its stack. Each must be a `TokenizerError`
/// naming the problem, with memory bounded by a small multiple of the file size.
final class HostileTokenizerFileTests: XCTestCase {
    private func loadError(_ data: Data) -> TokenizerError? { Self.error(loading: data) }

    private static func error(loading data: Data) -> TokenizerError? {
        do {
            _ = try Tokenizer(json: data)
            return nil
        } catch {
            return error
        }
    }

    private func assertMalformed(_ data: Data, mentioning word: String, file: StaticString = #filePath, line: UInt = #line) {
        guard case .malformed(let why)? = loadError(data) else {
            return XCTFail("expected .malformed mentioning \(word), got \(String(describing: loadError(data)))", file: file, line: line)
        }
        XCTAssertTrue(why.contains(word), "\(why) should mention \(word)", file: file, line: line)
    }

    private func mini(extraVocab: [String: Int] = [:], postProcessor: String? = nil, addedTokens: String? = nil) -> Data {
        var text = String(decoding: LoadingAndErrorTests.miniJSON(), as: UTF8.self)
        if !extraVocab.isEmpty {
            let entries = extraVocab.map { "\(JSONStringLiteral.quote($0.key)): \($0.value)" }.joined(separator: ", ")
            text = text.replacingOccurrences(of: #""vocab": {"#, with: #""vocab": {"# + entries + ", ")
        }
        if let postProcessor {
            let data = LoadingAndErrorTests.miniJSON(postProcessor: postProcessor)
            text = String(decoding: data, as: UTF8.self)
        }
        if let addedTokens {
            let start = text.range(of: #""added_tokens": ["#)!
            let end = text.range(of: #""normalizer""#)!
            text.replaceSubrange(start.lowerBound ..< end.lowerBound, with: #""added_tokens": "# + addedTokens + ", ")
        }
        return Data(text.utf8)
    }

    /// One vocab id of 2^31 - 1 sized the decoding tables by it: 2^31 entries of 9 bytes,
    /// 19 GB, for a 4 kB file.
    func testHugeVocabIDDoesNotSizeTheTables() {
        assertMalformed(mini(extraVocab: ["zz": Int(Int32.max)]), mentioning: "2147483647")
        // The same through an added token.
        assertMalformed(mini(addedTokens: #"[{"id": 2147483000, "content": "<x>", "special": true}]"#), mentioning: "2147483000")
    }

    func testDuplicateIDsAreMalformed() {
        // Two vocabulary entries with one id: decoding could not tell which one was meant.
        assertMalformed(mini(extraVocab: ["zz": 65]), mentioning: "65")
        // Two added tokens with one id.
        assertMalformed(mini(addedTokens: #"[{"id": 300, "content": "<a>", "special": true}, {"id": 300, "content": "<b>", "special": true}]"#),
                        mentioning: "300")
    }

    func testAddedTokenMayShareItsIDWithTheSameVocabEntry() throws {
        // GPT-2-style files list <|endoftext|> both in the vocab and as an added token.
        let tok = try Tokenizer(json: mini(extraVocab: ["<x>": 400],
                                           addedTokens: #"[{"id": 300, "content": "<|begin_of_text|>", "special": true}, {"id": 400, "content": "<x>", "special": true}]"#))
        XCTAssertEqual(tok.encode("a<x>", addSpecialTokens: false).ids, [97, 400])
    }

    /// A template referring N times to a special token of M ids made a prefix of N x M ids:
    /// 10,000 x 200,000 = 2e9 ids (8 GB) from a 1.3 MB file.
    func testPostProcessorCannotMultiplyIds() {
        let ids = Array(repeating: "300", count: 200_000).joined(separator: ",")
        let piece = #"{"SpecialToken": {"id": "B", "type_id": 0}}"#
        let pieces = Array(repeating: piece, count: 10_000).joined(separator: ",")
        let post = #"{"type": "TemplateProcessing", "single": ["# + pieces + #", {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"B": {"id": "B", "ids": ["# + ids + "]}}}"
        guard case .unsupported(let why)? = loadError(mini(postProcessor: post)) else {
            return XCTFail("expected .unsupported, got \(String(describing: loadError(mini(postProcessor: post))))")
        }
        XCTAssertTrue(why.contains("post_processor"), why)
    }

    /// Nesting right at the reader's limit must not overflow a small thread stack (the
    /// loader may run on any thread, e.g. a 512 KiB Dispatch worker on macOS), and one level
    /// deeper is an error.
    func testNestingLimitFitsInASmallStack() throws {
        let limit = TokenizerJSONReader.defaultMaxDepth
        func nested(_ depth: Int) -> Data {
            Data(("{\"x\": " + String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1) + "}").utf8)
        }
        let atLimit = nested(limit), beyond = nested(limit + 1)
        let results = ResultBox()
        let thread = Thread {
            results.atLimit = Self.error(loading: atLimit)
            results.beyond = Self.error(loading: beyond)
            results.done.signal()
        }
        thread.stackSize = 256 << 10
        thread.start()
        XCTAssertEqual(results.done.wait(timeout: .now() + 60), .success, "loader did not finish within 60 s")
        // At the limit, only the missing model section is wrong.
        XCTAssertEqual(results.atLimit, .malformed("no model section"))
        guard case .malformed(let why)? = results.beyond else { return XCTFail("\(String(describing: results.beyond))") }
        XCTAssertTrue(why.contains("nesting"), why)
    }

    /// Merges are read into tables sized by what the file holds, not by a fixed guess, and
    /// the loader's memory stays within a small multiple of the file.
    func testMergeTablesAreBoundedByTheFile() throws {
        let merges = "[" + Array(repeating: #"["h","e"]"#, count: 50_000).joined(separator: ",") + "]"
        let data = LoadingAndErrorTests.miniJSON(merges: merges)
        let tok = try Tokenizer(json: data)
        XCTAssertEqual(tok.encode("he", addSpecialTokens: false).ids, [256])
    }

    func testEncodeWithExtremeLimitsDoesNotTrap() throws {
        let tok = try Tokenizer(json: LoadingAndErrorTests.miniJSON())
        XCTAssertEqual(tok.encode("hello", maxTokens: Int.min).ids, [300])
        XCTAssertEqual(tok.encode("hello", maxTokens: Int.max).ids, [300, 259])
        XCTAssertEqual(tok.windows("hello", maxTokens: Int.min, overlap: Int.max).map(\.ids).first?.first, 300)
        XCTAssertEqual(tok.windows("hello", maxTokens: Int.max, overlap: Int.min).map(\.ids), [[300, 259]])
    }
}

/// Results handed from the loader thread to the test.
private final class ResultBox: @unchecked Sendable {
    var atLimit: TokenizerError?
    var beyond: TokenizerError?
    let done = DispatchSemaphore(value: 0)
}
