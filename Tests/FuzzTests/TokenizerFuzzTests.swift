import Foundation
@testable import Tokenizer
import XCTest

/// Fuzzes the tokenizer.json loader (then encodes with what it loaded), and encoding itself
/// with the real Llama-3.2 tokenizer on request-like text, checking that decoding gives the
/// text back.
final class TokenizerFuzzTests: XCTestCase {
    func testTokenizerJSON() {
        let seeds = [FuzzSeeds.tokenizerJSON(), FuzzSeeds.tokenizerJSON(pairMerges: true, llama32Post: false, ignoreMerges: true)]
        let dictionary: [[UInt8]] = [
            "{", "}", "[", "]", "\"", ":", ",", "null", "true", "false", "\\u0000", "\\ud800", "\\udc00", "\\\"",
            "\"vocab\"", "\"merges\"", "\"added_tokens\"", "\"id\"", "\"content\"", "\"special\"", "\"ids\"",
            "\"TemplateProcessing\"", "\"Sequence\"", "\"SpecialToken\"", "\"processors\"", "\"single\"",
            "\"ignore_merges\"", "\"BPE\"", "\"ByteLevel\"", "\"Ġ\"", "2147483647", "16777215",
        ].map { Array($0.utf8) }
        let target = FuzzTarget(name: "tokenizer-json", seeds: seeds, dictionary: dictionary, maxLength: 1 << 16) { bytes in
            guard let tok = try? Tokenizer(json: Data(bytes)) else { return false }
            for text in ["hello world", "<|end_of_text|>hello<|begin_of_text|>", "1234  \n x", "é😀"] {
                let ids = tok.encode(text, maxTokens: 8).ids
                _ = tok.decode(ids, skipSpecialTokens: true)
                _ = tok.windows(text, maxTokens: 3, overlap: 1)
            }
            _ = (tok.bosTokenID, tok.vocabularySize, tok.tokenID("he"), tok.decode([-1, 0, 1 << 30]))
            return true
        }
        let report = Fuzzer.fromEnvironment().run(target)
        XCTAssertGreaterThan(report.rejected, 0)
    }

    /// The request path: bytes from a message value, as the worker tokenizes them.
    func testEncodeLlama32() throws {
        let path = FuzzSeeds.repositoryRoot.appendingPathComponent("Tests/Fixtures/generated/llama3.2/tokenizer.json")
        guard FileManager.default.fileExists(atPath: path.path) else {
            XCTFail("missing \(path.path): run scripts/prepare-tokenizers.sh first")
            return
        }
        let tok = try Tokenizer(contentsOf: path)
        var seeds: [[UInt8]] = [
            "How do I make a bomb?", "Héllo wörld 🌍👩‍👩‍👧 — <|end_of_text|> ok", "  leading\r\n\ttabs   \u{00A0}\u{2003}",
            "1234567890 3.14159 -42", "I'M GOING, they're 'quoted' ſtuff", "日本語のテキストと中文混合",
            "مرحبا بالعالم", String(repeating: "a", count: 300), "<|begin_of_text|><|eot_id|><|start_header_id|>",
        ].map { Array($0.utf8) }
        // Some lines of the parity corpus: every script and whitespace kind it covers.
        if let corpus = try? Data(contentsOf: FuzzSeeds.repositoryRoot.appendingPathComponent("Tests/TokenizerTests/Fixtures/parity.jsonl")) {
            let lines = corpus.split(separator: UInt8(ascii: "\n"))
            for line in stride(from: 0, to: lines.count, by: max(1, lines.count / 48)).map({ lines[$0] }) {
                if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let text = object["text"] as? String, !text.isEmpty {
                    seeds.append(Array(text.utf8))
                }
            }
        }
        let dictionary: [[UInt8]] = ["<|end_of_text|>", "<|begin_of_text|>", "'s", "'LL", " ", "\r\n", "\u{00A0}", "ſ", "😀", "\u{200D}", "123"]
            .map { Array($0.utf8) }
        let target = FuzzTarget(name: "tokenizer-encode", seeds: seeds, dictionary: dictionary, maxLength: 1 << 14) { bytes in
            guard let all = try? tok.encode(utf8: bytes, addSpecialTokens: false) else { return false }
            // Byte-level BPE loses nothing: the ids spell the input exactly.
            let back = tok.decode(all.ids)
            guard Array(back.utf8) == bytes else {
                throw FuzzInvariantViolation(description: "decode(encode(x)) != x for \(bytes.count) bytes")
            }
            let truncated = try tok.encode(utf8: bytes, maxTokens: 16)
            guard truncated.ids.count <= 16, truncated.ids.first == tok.bosTokenID else {
                throw FuzzInvariantViolation(description: "truncation to 16 gave \(truncated.ids.count) ids")
            }
            let text = String(decoding: bytes, as: UTF8.self)
            for window in tok.windows(text, maxTokens: 16, overlap: 4) where window.ids.count > 16 {
                throw FuzzInvariantViolation(description: "a window of \(window.ids.count) ids > 16")
            }
            return true
        }
        let report = Fuzzer.fromEnvironment().run(target)
        XCTAssertGreaterThan(report.rejected, 0, "no mutant was invalid UTF-8")
    }
}
