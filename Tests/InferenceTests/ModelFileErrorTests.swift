import Foundation
import Inference
import XCTest

/// Every bad-file case is a `ModelFileError` naming the problem, never a crash.
final class ModelFileErrorTests: XCTestCase {
    private var scratch: URL!

    override func setUp() {
        scratch = ModelFixtures.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// A copy of a converted fixture with `edit` applied to its bytes.
    private func corrupted(_ edit: (inout [UInt8]) throws -> Void) throws -> String {
        let source = try ModelFixtures.gguf("tiny-b", type: .q8_0)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        try edit(&bytes)
        let path = scratch.appendingPathComponent("bad-\(UUID().uuidString).gguf").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Offset just after the first occurrence of the length-prefixed string `s`.
    private func endOfString(_ s: String, in bytes: [UInt8]) throws -> Int {
        var needle = withUnsafeBytes(of: UInt64(s.utf8.count).littleEndian) { Array($0) }
        needle += Array(s.utf8)
        let limit = bytes.count - needle.count
        var i = 0
        while i <= limit {
            if bytes[i] == needle[0], Array(bytes[i ..< i + needle.count]) == needle { return i + needle.count }
            i += 1
        }
        throw XCTSkip("string \(s) not found")
    }

    private func assertLoadFails(_ path: String, _ expected: (ModelFileError) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try DuoGuardModel.load(path: path, options: ModelOptions(batchTokenBudget: 16)), file: file, line: line) { error in
            guard let e = error as? ModelFileError else { return XCTFail("not a ModelFileError: \(error)", file: file, line: line) }
            XCTAssertTrue(expected(e), "unexpected error: \(e)", file: file, line: line)
            XCTAssertFalse(e.description.isEmpty)
        }
    }

    func testMissingFile() {
        assertLoadFails("/nonexistent/model.gguf") { $0 == .fileNotFound(path: "/nonexistent/model.gguf") }
    }

    func testEmptyAndTruncatedFiles() throws {
        assertLoadFails(try corrupted { $0 = [] }) { if case .truncated = $0 { true } else { false } }
        assertLoadFails(try corrupted { $0 = Array($0[0 ..< 20]) }) { if case .truncated = $0 { true } else { false } }
        assertLoadFails(try corrupted { $0 = Array($0[0 ..< 5000]) }) { if case .truncated = $0 { true } else { false } }
        assertLoadFails(try corrupted { $0.removeLast(1000) }) { if case .truncated = $0 { true } else { false } }
    }

    func testBadMagicAndVersion() throws {
        assertLoadFails(try corrupted { $0[0] = UInt8(ascii: "X") }) { if case .badMagic = $0 { true } else { false } }
        assertLoadFails(try corrupted { $0[4] = 7 }) { if case .unsupportedVersion(_, 7) = $0 { true } else { false } }
    }

    func testCorruptHeaderValues() throws {
        // A metadata value type that does not exist.
        assertLoadFails(try corrupted { bytes in
            let at = try endOfString("general.architecture", in: bytes)
            bytes[at] = 99
        }) { if case .corrupt = $0 { true } else { false } }
        // An absurd string length.
        assertLoadFails(try corrupted { bytes in
            let at = try endOfString("general.architecture", in: bytes) + 4
            for i in 0 ..< 8 { bytes[at + i] = 0x7f }
        }) { if case .truncated = $0 { true } else { false } }
    }

    func testUnsupportedArchitecture() throws {
        assertLoadFails(try corrupted { bytes in
            let at = try endOfString("general.architecture", in: bytes) + 4 + 8
            bytes.replaceSubrange(at ..< at + 5, with: Array("mamba".utf8))
        }) { $0 == .unsupportedArchitecture("mamba") }
    }

    func testUnsupportedTensorType() throws {
        assertLoadFails(try corrupted { bytes in
            let at = try endOfString("blk.0.attn_q.weight", in: bytes) + 4 + 16
            bytes[at] = 12 // ggml Q4_K
        }) { if case .unsupportedTensorType(tensor: "blk.0.attn_q.weight", _) = $0 { true } else { false } }
    }

    func testShapeMismatch() throws {
        assertLoadFails(try corrupted { bytes in
            let at = try endOfString("blk.0.ffn_up.weight", in: bytes) + 4 + 8
            bytes[at] = 64 // rows 128 -> 64
        }) { $0 == .shapeMismatch(tensor: "blk.0.ffn_up.weight", expected: [64, 128], found: [64, 64]) }
    }

    func testMissingTensor() throws {
        assertLoadFails(try corrupted { bytes in
            let at = try endOfString("blk.2.ffn_down.weight", in: bytes)
            bytes[at - 8] = UInt8(ascii: "X") // "blk.2.ffn_Xown.weight"
        }) { $0 == .missingTensor("blk.2.ffn_down.weight") }
    }

    func testMissingMetadata() throws {
        assertLoadFails(try corrupted { bytes in
            let at = try endOfString("llama.block_count", in: bytes)
            bytes[at - 1] = UInt8(ascii: "X")
        }) { $0 == .missingMetadata(key: "llama.block_count") }
    }

    // MARK: Hugging Face directories

    /// A copy of tiny-b's directory with `config.json` replaced (and optionally a file broken).
    private func directory(config edit: (inout [String: Any]) -> Void, breakShard: Bool = false) throws -> String {
        let source = URL(fileURLWithPath: ModelFixtures.directory("tiny-b"))
        let target = scratch.appendingPathComponent("model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path) where name != "config.json" {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: target.appendingPathComponent(name))
        }
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as? [String: Any] ?? [:]
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: target.appendingPathComponent("config.json"))
        if breakShard {
            let shard = target.appendingPathComponent("model-00002-of-00002.safetensors")
            let data = try Data(contentsOf: shard)
            try data.prefix(data.count / 2).write(to: shard)
        }
        return target.path
    }

    private func assertDirectoryFails(_ path: String, _ expected: (ModelFileError) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try HuggingFaceModelDirectory(path: path), file: file, line: line) { error in
            guard let e = error as? ModelFileError else { return XCTFail("not a ModelFileError: \(error)", file: file, line: line) }
            XCTAssertTrue(expected(e), "unexpected error: \(e)", file: file, line: line)
        }
    }

    func testBadConfigJSON() throws {
        let notJSON = try directory(config: { _ in })
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: notJSON).appendingPathComponent("config.json"))
        // The detail now says where the text stops being JSON ("not valid JSON (expected '"' at byte 1)").
        assertDirectoryFails(notJSON) {
            if case .badConfig(_, let detail) = $0 { detail.hasPrefix("not valid JSON (") && detail.contains("at byte 1") } else { false }
        }
        assertDirectoryFails(try directory(config: { $0["hidden_size"] = nil })) {
            if case .badConfig(_, let detail) = $0 { detail.contains("hidden_size") } else { false }
        }
        assertDirectoryFails(try directory(config: { $0["model_type"] = "gpt2" })) {
            if case .unsupportedArchitecture = $0 { true } else { false }
        }
        assertDirectoryFails(try directory(config: { $0["rope_scaling"] = ["rope_type": "yarn", "factor": 4.0] })) {
            if case .badConfig(_, let detail) = $0 { detail.contains("yarn") } else { false }
        }
        assertDirectoryFails(try directory(config: { $0["num_key_value_heads"] = 3 })) {
            if case .badConfig = $0 { true } else { false }
        }
        assertDirectoryFails(try directory(config: { $0["pad_token_id"] = nil })) {
            if case .badConfig(_, let detail) = $0 { detail.contains("pad_token_id") } else { false }
        }
        assertDirectoryFails(scratch.appendingPathComponent("absent").path) { if case .fileNotFound = $0 { true } else { false } }
    }

    func testTruncatedSafetensors() throws {
        assertDirectoryFails(try directory(config: { _ in }, breakShard: true)) { if case .truncated = $0 { true } else { false } }
    }

    func testConversionShapeMismatchAndMissingTokenizer() throws {
        let wrong = try HuggingFaceModelDirectory(path: try directory(config: { $0["intermediate_size"] = 96 }))
        let output = scratch.appendingPathComponent("out.gguf").path
        XCTAssertThrowsError(try ModelConverter.convert(directory: wrong, to: output,
                                                        options: ConversionOptions(type: .f32, tokenizerPath: ModelFixtures.tokenizerPath))) {
            XCTAssertEqual($0 as? ModelFileError, .shapeMismatch(tensor: "model.layers.0.mlp.gate_proj.weight", expected: [96, 64], found: [128, 64]))
        }
        let right = try HuggingFaceModelDirectory(path: ModelFixtures.directory("tiny-b"))
        XCTAssertThrowsError(try ModelConverter.convert(directory: right, to: output, options: ConversionOptions(type: .q8_0))) {
            guard case .fileNotFound(let path) = $0 as? ModelFileError else { return XCTFail("\($0)") }
            XCTAssertTrue(path.hasSuffix("tokenizer.json"))
        }
    }

    func testHuggingFaceConfigLayouts() throws {
        let v4 = try HuggingFaceModelDirectory(path: ModelFixtures.directory("tiny-b")).config
        let v5 = try HuggingFaceModelDirectory(path: ModelFixtures.directory("tiny-b-f32")).config
        XCTAssertEqual(v4, v5)
        XCTAssertEqual(v4.ropeTheta, 100_000)
        XCTAssertEqual(v4.ropeScaling, RopeScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 1024))
        XCTAssertEqual(v4.padTokenID, 8001)
        XCTAssertEqual(v4.headDim, 16)
        XCTAssertEqual(v4.kvHeadCount, 1)
    }
}
