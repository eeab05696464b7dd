import Foundation
@testable import Inference
@testable import ModelFormats
import XCTest

/// Fuzzes the model-file readers: GGUF (header, hyperparameters, tensor table, the embedded
/// tokenizer, then one classification), safetensors and config.json.
final class ModelFileFuzzTests: XCTestCase {
    private static let jsonTokens: [[UInt8]] = [
        "{", "}", "[", "]", "\"", ":", ",", "null", "true", "false", "-", "1e400", "\\u0000", "\\ud800",
        "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"F32\"", "\"BF16\"", "\"F16\"", "\"I64\"",
        "\"vocab_size\"", "\"hidden_size\"", "\"num_attention_heads\"", "\"head_dim\"", "\"rope_scaling\"",
        "\"rope_type\"", "\"llama3\"", "\"pad_token_id\"", "\"id2label\"", "\"rope_parameters\"",
    ].map { Array($0.utf8) }

    /// Writes `bytes` where the file-based readers can map them.
    private func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = FuzzSeeds.scratch.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testGGUF() throws {
        let models = try FuzzSeeds.ggufModels()
        let dictionary: [[UInt8]] = ["GGUF", "general.alignment", "llama.attention.head_count", "duoguard.max_tokens",
                                     "tokenizer.ggml.tokens", "blk.0.attn_q.weight", "token_embd.weight"].map { Array($0.utf8) }
            + Self.jsonTokens
        let target = FuzzTarget(name: "gguf", seeds: models + [try FuzzSeeds.ggufOfEveryType()], dictionary: dictionary,
                                maxLength: 1 << 20) { bytes in
            let path = try self.file("case.gguf", bytes)
            guard let gguf = try? GGUFFile(path: path) else { return false }
            for t in gguf.tensors { _ = t.elementCount }
            _ = gguf.metadata.map(\.value.description)
            // Accepted once the file parses; a model is a further step most files do not reach.
            if let model = try? DuoGuardModel.load(path: path, options: ModelOptions(threads: 1, batchTokenBudget: 24)) {
                _ = try? model.score(["hello world", "<|end_of_text|> 123 hello"], scoring: TextScoring(maxTokens: 12))
            }
            return true
        }
        let report = Fuzzer.fromEnvironment().run(target)
        XCTAssertGreaterThan(report.rejected, 0, "no mutant reached an error path")
    }

    func testSafetensors() throws {
        let seeds = [
            FuzzSeeds.safetensors(FuzzSeeds.modelTensors()),
            FuzzSeeds.safetensors([
                .init(name: "a", dtype: "F32", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                .init(name: "b", dtype: "BF16", shape: [4], values: [1, -1, 0.5, 2]),
                .init(name: "empty", dtype: "F32", shape: [0, 4], values: []),
            ]),
        ]
        let target = FuzzTarget(name: "safetensors", seeds: seeds, dictionary: Self.jsonTokens, maxLength: 1 << 17) { bytes in
            let path = try self.file("case.safetensors", bytes)
            guard let file = try? SafeTensorsFile(path: path) else { return false }
            for name in file.entries.keys { _ = try? file.floats(name) }
            return true
        }
        let report = Fuzzer.fromEnvironment().run(target)
        XCTAssertGreaterThan(report.rejected, 0)
    }

    func testConfigJSON() throws {
        let seeds = [FuzzSeeds.configJSON(), FuzzSeeds.configJSON(layers: 3, v5: true),
                     [UInt8](try Data(contentsOf: FuzzSeeds.repositoryRoot.appendingPathComponent("Tests/InferenceTests/Fixtures/tiny-a/config.json")))]
        let target = FuzzTarget(name: "config-json", seeds: seeds, dictionary: Self.jsonTokens, maxLength: 1 << 14) { bytes in
            guard let config = try? ModelConfig(huggingFaceConfig: Data(bytes), path: "config.json") else { return false }
            // What the converter computes from an accepted config must not trap either.
            _ = (config.qDim, config.kvDim, config.ropeInverseFrequencies(), config.ropeFrequencyFactors())
            return true
        }
        let report = Fuzzer.fromEnvironment().run(target)
        XCTAssertGreaterThan(report.rejected, 0)
    }
}
