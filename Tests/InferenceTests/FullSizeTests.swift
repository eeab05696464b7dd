import Foundation
import Inference
import XCTest

/// Spot check at the real DuoGuard-1B shape (hidden 2048, 16 layers, 32/8 heads, head_dim
/// 64, vocab 128256) on random weights. Needs large files that are never committed:
///
///     .venv/bin/python scripts/model-fixtures.py --full-size models/duoguard-random-1b
///     duoguard convert models/duoguard-random-1b -o models/random-1b-q8_0.gguf --type q8_0   # and f32, q4_0
///
/// Skipped when they are absent (CI).
final class FullSizeTests: XCTestCase {
    func testFullSizeModelAgainstTransformers() throws {
        let models = ModelFixtures.repositoryRoot.appendingPathComponent("models")
        let referencePath = models.appendingPathComponent("duoguard-random-1b/reference.json")
        guard let data = try? Data(contentsOf: referencePath) else { throw XCTSkip("no \(referencePath.path)") }
        let reference = try JSONDecoder().decode(ModelFixtures.Reference.self, from: data)
        var ran = 0
        for (type, bound) in [("f32", Float(1e-3)), ("q8_0", 0.5), ("q4_0", 2.0)] {
            let path = models.appendingPathComponent("random-1b-\(type).gguf").path
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let model = try DuoGuardModel.load(path: path, options: ModelOptions(batchTokenBudget: 1024))
            // Long prompts are slow in debug builds; the 512-token one runs only in release.
            #if DEBUG
            let prompts = reference.prompts.filter { $0.ids.count <= 64 }
            #else
            let prompts = reference.prompts
            #endif
            let results = try model.classify(batch: prompts.map(\.ids))
            var worstLogit: Float = 0
            var worstProbability: Float = 0
            for (result, prompt) in zip(results, prompts) {
                worstLogit = max(worstLogit, ModelFixtures.maxAbsDifference(result.logits, prompt.logits))
                worstProbability = max(worstProbability, zip(result.logits, prompt.logits).map {
                    abs(ModelFixtures.sigmoid($0) - ModelFixtures.sigmoid($1))
                }.max() ?? 0)
            }
            print("[parity] random-1b \(type) (\(prompts.map(\.ids.count)) tokens): max |dlogit| = \(worstLogit), max |dprob| = \(worstProbability)")
            XCTAssertLessThanOrEqual(worstLogit, bound, type)
            ran += 1
        }
        if ran == 0 { throw XCTSkip("no models/random-1b-*.gguf") }
    }
}
