import Foundation
import XCTest

@testable import Tokenizer

/// Ids identical to Hugging Face `tokenizers` on the committed multilingual corpus
/// (Fixtures/parity.jsonl, made by scripts/tokenizer-fixtures.py).
final class ParityTests: XCTestCase {
    private func cases() throws -> [ParityCase] {
        let cases = try ParityCase.load()
        XCTAssertGreaterThanOrEqual(cases.count, 2000, "the parity corpus should hold at least 2000 inputs")
        return cases
    }

    /// Reports at most a few mismatches with context, then the total, so one bug does not
    /// drown the log.
    private func compare(_ name: String, _ cases: [ParityCase], expected: (ParityCase) -> [Int32],
                         actual: (ParityCase) -> [Int32]) {
        var failures = 0
        for c in cases {
            let want = expected(c), got = actual(c)
            if want != got {
                failures += 1
                if failures <= 5 {
                    XCTFail("\(name): \(String(reflecting: c.text))\n  expected \(want)\n  got      \(got)")
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(name): \(failures) of \(cases.count) inputs differ from the reference")
    }

    func testLlama30DefaultEncoding() throws {
        let tok = try TokenizerFiles.require(TokenizerFiles.llama30)
        compare("llama3.0", try cases(), expected: \.l30) { tok.encode($0.text).ids }
        XCTAssertEqual(tok.specialTokenCount, 0)
    }

    func testLlama32EncodingAddsBOS() throws {
        let tok = try TokenizerFiles.require(TokenizerFiles.llama32)
        compare("llama3.2", try cases(), expected: \.l32) { tok.encode($0.text).ids }
        compare("llama3.2 no special", try cases(), expected: \.l30) { tok.encode($0.text, addSpecialTokens: false).ids }
        XCTAssertEqual(tok.bosTokenID, 128000)
    }

    func testLlama32UTF8BytesEncodingMatchesStringEncoding() throws {
        let tok = try TokenizerFiles.require(TokenizerFiles.llama32)
        compare("llama3.2 utf8", try cases(), expected: \.l32) { c in
            (try? tok.encode(utf8: Array(c.text.utf8)).ids) ?? [-1]
        }
    }

    func testTruncationMatchesReference() throws {
        let tok = try TokenizerFiles.require(TokenizerFiles.llama32)
        let cases = try cases()
        let n = ParityCase.truncationLength
        compare("truncated \(n)", cases, expected: \.t32) { tok.encode($0.text, maxTokens: n).ids }
        compare("truncated \(n) no special", cases, expected: \.t32n) {
            tok.encode($0.text, addSpecialTokens: false, maxTokens: n).ids
        }
        var flagErrors = 0
        for c in cases {
            if tok.encode(c.text, maxTokens: n).truncated != c.t32x { flagErrors += 1 }
            if tok.encode(c.text, addSpecialTokens: false, maxTokens: n).truncated != c.t32nx { flagErrors += 1 }
        }
        XCTAssertEqual(flagErrors, 0, "truncated flags differ from the reference's overflow")
        XCTAssertTrue(cases.contains { $0.t32x }, "the corpus should exercise truncation")
    }

    func testTruncationKeepsBOSAndReportsIt() throws {
        let tok = try TokenizerFiles.require(TokenizerFiles.llama32)
        let text = String(repeating: "word ", count: 2000)
        let full = tok.encode(text)
        let cut = tok.encode(text, maxTokens: 512)
        XCTAssertEqual(cut.ids.count, 512)
        XCTAssertEqual(cut.ids.first, 128000)
        XCTAssertTrue(cut.truncated)
        XCTAssertEqual(Array(full.ids.prefix(512)), cut.ids)
        XCTAssertFalse(full.truncated)
        XCTAssertFalse(tok.encode("short", maxTokens: 512).truncated)
        // Exactly at the limit is not truncated.
        let exact = tok.encode(text, maxTokens: full.ids.count)
        XCTAssertEqual(exact, TokenizedText(ids: full.ids, truncated: false))
        // Fewer tokens than the special ones keeps just those.
        XCTAssertEqual(tok.encode(text, maxTokens: 1), TokenizedText(ids: [128000], truncated: true))
    }

    func testDecodeReturnsOriginalText() throws {
        let tok = try TokenizerFiles.require(TokenizerFiles.llama32)
        var failures = 0
        for c in try cases() {
            // Compare bytes: String equality would accept a canonically equivalent text.
            let decoded = tok.decode(tok.encode(c.text, addSpecialTokens: false).ids)
            if Array(decoded.utf8) != Array(c.text.utf8) {
                failures += 1
                if failures <= 5 { XCTFail("decode: \(String(reflecting: c.text)) -> \(String(reflecting: decoded))") }
            }
        }
        XCTAssertEqual(failures, 0)
        XCTAssertEqual(tok.decode([128000, 9906, 1917]), "<|begin_of_text|>Hello world")
        XCTAssertEqual(tok.decode([128000, 9906, 1917, 128001], skipSpecialTokens: true), "Hello world")
    }

    func testSpecialTokens() throws {
        let tok = try TokenizerFiles.require(TokenizerFiles.llama32)
        XCTAssertEqual(tok.tokenID("<|end_of_text|>"), 128001)
        XCTAssertEqual(tok.tokenID("<|begin_of_text|>"), 128000)
        XCTAssertEqual(tok.tokenID("Hello"), 9906)
        XCTAssertEqual(tok.tokenID("Ġworld"), 1917)
        XCTAssertNil(tok.tokenID("no such token here"))
        XCTAssertEqual(tok.vocabularySize, 128256)
        XCTAssertEqual(tok.encode("Hello world <|end_of_text|>x").ids, [128000, 9906, 1917, 220, 128001, 87])
        let l30 = try TokenizerFiles.require(TokenizerFiles.llama30)
        XCTAssertEqual(l30.bosTokenID, 128000)
    }

    func testWindowsOverlapAndStartWithBOS() throws {
        let tok = try TokenizerFiles.require(TokenizerFiles.llama32)
        let text = (0..<300).map { "sentence number \($0) is here." }.joined(separator: " ")
        let content = tok.encode(text, addSpecialTokens: false).ids
        let windows = tok.windows(text, maxTokens: 128, overlap: 32)
        XCTAssertGreaterThan(windows.count, 1)
        var rebuilt: [Int32] = []
        for (k, w) in windows.enumerated() {
            XCTAssertEqual(w.ids.first, 128000)
            XCTAssertLessThanOrEqual(w.ids.count, 128)
            XCTAssertFalse(w.truncated)
            let body = Array(w.ids.dropFirst())
            if k == 0 {
                rebuilt = body
            } else {
                // Consecutive windows share `overlap` content tokens.
                XCTAssertEqual(Array(rebuilt.suffix(32)), Array(body.prefix(32)))
                rebuilt += body.dropFirst(32)
            }
        }
        XCTAssertEqual(rebuilt, content)
        XCTAssertEqual(tok.windows("short text", maxTokens: 128, overlap: 32), [tok.encode("short text")])
        XCTAssertEqual(tok.windows("", maxTokens: 8, overlap: 2), [TokenizedText(ids: [128000], truncated: false)])
        let plain = tok.windows(text, maxTokens: 64, overlap: 0, addSpecialTokens: false)
        XCTAssertEqual(plain.flatMap(\.ids), content)
    }

    /// The two merge loops (plain scan for short pieces, heap for long ones) agree on every
    /// piece of the corpus and on long synthetic pieces.
    func testScanAndHeapMergeAgree() throws {
        let tok = try TokenizerFiles.require(TokenizerFiles.llama32)
        var texts = try cases().map(\.text)
        for unit in ["ab", "xyz", "supercalifragilistic", "аб", "漢字", "🙂", "!?", "e\u{301}"] {
            texts.append(String(repeating: unit, count: 200))
        }
        var scratch = BytePairModel.Scratch()
        var checked = 0
        for var text in texts {
            text.withUTF8 { p in
                tok.core.preTokenizer.split(p) { a, b in
                    let piece = UnsafeBufferPointer(rebasing: p[a..<b])
                    guard piece.count > 1 else { return true }
                    var scan: [Int32] = [], heap: [Int32] = []
                    tok.core.model.mergeByScan(piece, into: &scan, scratch: &scratch)
                    tok.core.model.mergeWithHeap(piece, into: &heap, scratch: &scratch)
                    XCTAssertEqual(scan, heap, String(decoding: piece, as: UTF8.self))
                    checked += 1
                    return true
                }
            }
        }
        XCTAssertGreaterThan(checked, 10_000)
    }
}
