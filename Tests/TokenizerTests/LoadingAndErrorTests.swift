import Foundation
import TestSupport
import XCTest

@testable import Tokenizer

/// Loading small hand-written tokenizer.json files, and every error the loader and the byte
/// entry point promise.
final class LoadingAndErrorTests: XCTestCase {
    /// A miniature Llama-3-style tokenizer: the 256 byte tokens, a few merges, one special token.
    static func miniJSON(
        merges: String = #"["h e", "l l", "he ll", "hell o"]"#,
        model: String = #""type": "BPE", "ignore_merges": false"#,
        preTokenizer: String? = nil,
        postProcessor: String = #"{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [300], "tokens": ["<|begin_of_text|>"]}}}"#,
        extraVocab: [String] = ["he", "ll", "hell", "hello"],
        mergesFirst: Bool = false
    ) -> Data {
        var vocab: [String] = []
        for b in 0..<256 {
            let scalar = Unicode.Scalar(ByteLevelAlphabet.scalarForByte[b])!
            vocab.append(String(Character(scalar)))
        }
        vocab += extraVocab
        let vocabJSON = vocab.enumerated().map { "\(JSONStringLiteral.quote($0.element)): \($0.offset)" }.joined(separator: ", ")
        let pattern = JSONStringLiteral.quote(Llama3PreTokenizer.pattern)
        let pre = preTokenizer ?? """
            {"type": "Sequence", "pretokenizers": [
              {"type": "Split", "pattern": {"Regex": \(pattern)}, "behavior": "Isolated", "invert": false},
              {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}
            """
        let text = """
            {"version": "1.0", "truncation": null, "padding": null,
             "added_tokens": [{"id": 300, "content": "<|begin_of_text|>", "single_word": false, "lstrip": false,
                               "rstrip": false, "normalized": false, "special": true},
                              {"id": 301, "content": "<|end|>", "special": true}],
             "normalizer": null, "pre_tokenizer": \(pre), "post_processor": \(postProcessor),
             "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
             "model": {\(model), \(mergesFirst ? "\"merges\": \(merges), \"vocab\": {\(vocabJSON)}"
                                          : "\"vocab\": {\(vocabJSON)}, \"merges\": \(merges)")}}
            """
        return Data(text.utf8)
    }

    private func loadError(_ data: Data) -> TokenizerError? {
        do {
            _ = try Tokenizer(json: data)
            return nil
        } catch {
            return error
        }
    }

    func testByteLevelAlphabetIsABijection() {
        var image = Set<Int>()
        for b in 0..<256 {
            let v = Int(ByteLevelAlphabet.scalarForByte[b])
            XCTAssertEqual(ByteLevelAlphabet.byte(forScalar: v), b)
            image.insert(v)
        }
        XCTAssertEqual(image.count, 256)
        for v in 0..<0x800 where !image.contains(v) {
            XCTAssertEqual(ByteLevelAlphabet.byte(forScalar: v), -1, "U+\(String(v, radix: 16))")
        }
        XCTAssertEqual(ByteLevelAlphabet.scalarForByte[0x20], 0x120)  // "Ġ"
        XCTAssertEqual(ByteLevelAlphabet.scalarForByte[0x0A], 0x10A)  // "Ċ"
    }

    func testByteStringTableKeysOfEveryShape() {
        var keys: [[UInt8]] = [[], [0], [0, 0], [97], [97, 0], [97, 0, 0, 0, 0, 0, 0], [97, 0, 0, 0, 0, 0, 0, 7]]
        for n in 1...20 {
            keys.append(Array(repeating: 120, count: n))
            keys.append(Array(repeating: 120, count: n - 1) + [121])
            keys.append(Array("abcdefgh".utf8) + Array(repeating: UInt8(n), count: n))
        }
        var table = ByteStringTable()
        for (k, key) in keys.enumerated() {
            key.withUnsafeBufferPointer { table.append($0, value: Int32(k)) }
        }
        // A later duplicate replaces the value.
        [UInt8]([97, 0]).withUnsafeBufferPointer { table.append($0, value: 999) }
        table.finish()
        for (k, key) in keys.enumerated() {
            XCTAssertEqual(table.lookup(key), key == [97, 0] ? 999 : Int32(k), "\(key)")
        }
        XCTAssertEqual(table.lookup([98]), -1)
        XCTAssertEqual(table.lookup([97, 0, 0]), -1)
        XCTAssertEqual(table.lookup(Array(repeating: 120, count: 21)), -1)
        XCTAssertEqual(table.lookup(Array("abcdefgh".utf8) + [9, 9, 9, 9, 9, 9, 9, 9, 8]), -1)
    }

    func testMiniTokenizerWithStringMerges() throws {
        let tok = try Tokenizer(json: Self.miniJSON())
        XCTAssertEqual(tok.encode("hello").ids, [300, 259])
        XCTAssertEqual(tok.encode("hello", addSpecialTokens: false).ids, [259])
        XCTAssertEqual(tok.encode("hell<|end|>").ids, [300, 258, 301])
        XCTAssertEqual(tok.decode([300, 259, 301]), "<|begin_of_text|>hello<|end|>")
        XCTAssertEqual(tok.decode([300, 259, 301, 9999], skipSpecialTokens: true), "hello")
        XCTAssertEqual(tok.bosTokenID, 300)
        XCTAssertEqual(tok.tokenID("<|end|>"), 301)
    }

    func testMiniTokenizerWithPairMergesAndEscapes() throws {
        // The newer ["a", "b"] encoding, with JSON escapes (\u0065 is "e") in the strings.
        let tok = try Tokenizer(json: Self.miniJSON(merges: #"[["h", "\u0065"], ["l", "l"], ["he", "ll"], ["hell", "o"]]"#))
        XCTAssertEqual(tok.encode("hello").ids, [300, 259])
        // In the mini vocab the id of a single-byte token is the byte itself.
        XCTAssertEqual(tok.encode(" hello", addSpecialTokens: false).ids, [32, 259])
    }

    func testMergesBeforeVocabLoadTheSame() throws {
        // Files written by `tokenizers` list the vocab first; a hand-edited file may not, and the
        // loader resolves merges only once both sections are read.
        for merges in [#"["h e", "l l", "he ll", "hell o"]"#, #"[["h", "e"], ["l", "l"], ["he", "ll"], ["hell", "o"]]"#] {
            let tok = try Tokenizer(json: Self.miniJSON(merges: merges, mergesFirst: true))
            XCTAssertEqual(tok.encode("hello hell", addSpecialTokens: false).ids, [259, 32, 258])
        }
        guard case .malformed(let why)? = loadError(Self.miniJSON(merges: #"["h e", "x yz"]"#, mergesFirst: true)) else {
            return XCTFail("expected .malformed for a merge out of the vocabulary")
        }
        XCTAssertTrue(why.contains("merge #1"), why)
    }

    func testIgnoreMergesTakesWholeWordsFromTheVocabulary() throws {
        // "hello" is in the vocab but its merges are missing: only ignore_merges finds it.
        let merges = #"["h e", "l l"]"#
        let withMerges = try Tokenizer(json: Self.miniJSON(merges: merges))
        XCTAssertEqual(withMerges.encode("hello", addSpecialTokens: false).ids, [256, 257, Int32(UInt8(ascii: "o"))])
        let ignoring = try Tokenizer(json: Self.miniJSON(merges: merges, model: #""type": "BPE", "ignore_merges": true"#))
        XCTAssertEqual(ignoring.encode("hello", addSpecialTokens: false).ids, [259])
    }

    func testInvalidUTF8IsRejected() throws {
        let tok = try Tokenizer(json: Self.miniJSON())
        let invalid: [[UInt8]] = [
            [0xFF], [0xC0, 0x80], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0x68, 0xC3], [0x80], [0xF0, 0x9F, 0x98],
        ]
        for bytes in invalid {
            XCTAssertThrowsError(try tok.encode(utf8: bytes)) { error in
                XCTAssertEqual(error as? TokenizerError, .invalidUTF8, "\(bytes)")
            }
        }
        XCTAssertEqual(try tok.encode(utf8: Array("hello".utf8)).ids, [300, 259])
        XCTAssertEqual(try tok.encode(utf8: "hello".utf8).ids, [300, 259])
        XCTAssertEqual(try tok.encode(utf8: [0xF0, 0x9F, 0x98, 0x80], addSpecialTokens: false).ids, [240, 159, 152, 128])
        XCTAssertEqual(TokenizerError.invalidUTF8.description, "tokenizer: input is not valid UTF-8")
    }

    func testMalformedJSON() {
        let cases: [String] = [
            "", "{", "[]", "{\"model\": }", "{\"model\": {\"vocab\": {\"a\": 1}, \"merges\": []}} trailing",
            "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1.5}, \"merges\": []}}",
            "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1}, \"merges\": [\"a b c\"]}}",
            "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1}, \"merges\": [\"a\\ud800\"]}}",
            "{\"added_tokens\": 3}",
        ]
        for text in cases {
            guard case .malformed? = loadError(Data(text.utf8)) else {
                XCTFail("expected .malformed for \(text), got \(String(describing: loadError(Data(text.utf8))))")
                continue
            }
        }
        // A merge naming tokens absent from the vocabulary.
        guard case .malformed(let why)? = loadError(Self.miniJSON(merges: #"["h e", "x yz"]"#)) else {
            return XCTFail("expected .malformed for a merge out of the vocabulary")
        }
        XCTAssertTrue(why.contains("merge #1"), why)
        XCTAssertTrue(TokenizerError.malformed("x").description.contains("malformed"))
    }

    func testDeeplyNestedJSONIsAnErrorNotACrash() {
        let text = String(repeating: "[", count: 100_000)
        guard case .malformed? = loadError(Data(("{\"x\": " + text).utf8)) else {
            return XCTFail("expected .malformed")
        }
    }

    func testUnknownComponentsAreUnsupported() {
        let cases: [(Data, String)] = [
            (Self.miniJSON(model: #""type": "WordPiece""#), "WordPiece"),
            (Self.miniJSON(model: #""type": "Unigram""#), "Unigram"),
            (Self.miniJSON(preTokenizer: #"{"type": "Whitespace"}"#), "Whitespace"),
            (Self.miniJSON(preTokenizer: #"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}"#), "ByteLevel"),
            (Self.miniJSON(preTokenizer: #"{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "use_regex": false}]}"#), "pattern"),
            (Self.miniJSON(preTokenizer: "null"), "pre_tokenizer"),
            (Self.miniJSON(postProcessor: #"{"type": "BertProcessing"}"#), "BertProcessing"),
            (Self.miniJSON(model: #""type": "BPE", "dropout": 0.1"#), "dropout"),
        ]
        for (data, word) in cases {
            guard case .unsupported(let why)? = loadError(data) else {
                XCTFail("expected .unsupported mentioning \(word), got \(String(describing: loadError(data)))")
                continue
            }
            XCTAssertTrue(why.contains(word), "\(why) should mention \(word)")
        }
    }

    func testFileNotFoundAndDirectoryLoading() throws {
        let missing = URL(fileURLWithPath: "/nonexistent/duoguard/tokenizer.json")
        XCTAssertThrowsError(try Tokenizer(contentsOf: missing)) { error in
            XCTAssertEqual(error as? TokenizerError, .fileNotFound(missing.path))
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try Tokenizer(contentsOf: dir)) { error in
            XCTAssertEqual(error as? TokenizerError, .fileNotFound(dir.appendingPathComponent("tokenizer.json").path))
        }
        try Self.miniJSON().write(to: dir.appendingPathComponent("tokenizer.json"))
        let fromDirectory = try Tokenizer(contentsOf: dir)
        let fromFile = try Tokenizer(contentsOf: dir.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(fromDirectory.encode("hello"), fromFile.encode("hello"))
    }
}
