import Foundation
import Inference
import XCTest

/// The committed demo classifier (`duoguard-demo-tiny`, issue #20; docs/model.md), loaded the
/// way a worker loads a model: the GGUF file alone, its embedded Llama-3.2 tokenizer, Q8_0
/// kernels. The texts of `Tests/Fixtures/demo/sample-texts.json` are not in its training set
/// (scripts/demo-model/train.py refuses to train when one is); they are what `scripts/demo.sh`
/// sends, and their verdicts and top categories are what its users see, so a regression in the tokenizer, the
/// quantized forward pass or the pooling shows here as wrong verdicts. Floats are not
/// compared: the verdict and the top category are the contract of a demo.
final class DemoModelTests: XCTestCase {
    static let modelPath = ModelFixtures.repositoryRoot.appendingPathComponent("Tests/Fixtures/demo/duoguard-demo-tiny.gguf").path
    static let samplesPath = ModelFixtures.repositoryRoot.appendingPathComponent("Tests/Fixtures/demo/sample-texts.json")

    private struct Check: Decodable {
        var text: String
        /// "safe", or the category expected to have the largest probability.
        var expect: String
    }

    func testDemoModelNamesItselfAsADemo() throws {
        let model = try DuoGuardModel.load(path: Self.modelPath, options: ModelOptions(threads: 1, verifyContentHash: true))
        XCTAssertEqual(model.identity.name, "duoguard-demo-tiny")
        XCTAssertEqual(model.identity.quantization, "Q8_0")
        XCTAssertEqual(model.config.vocabSize, 128256, "the full Llama-3 vocabulary")
        XCTAssertEqual(model.config.categoryNames, DuoGuardModel.categoryNames)
    }

    func testDemoModelVerdictsOnFixedTexts() throws {
        let checks = try JSONDecoder().decode([Check].self, from: Data(contentsOf: Self.samplesPath))
        XCTAssertGreaterThanOrEqual(checks.count, 8)
        XCTAssertTrue(checks.contains { $0.expect == "safe" } && checks.contains { $0.expect != "safe" })
        let model = try DuoGuardModel.load(path: Self.modelPath, options: ModelOptions(threads: 2))
        let names = model.config.categoryNames
        let results = try model.score(checks.map(\.text), scoring: TextScoring(for: model.config))
        for (check, result) in zip(checks, results) {
            let probabilities = result.classification.probabilities
            let top = try XCTUnwrap(probabilities.indices.max { probabilities[$0] < probabilities[$1] })
            let got = probabilities[top] > model.config.threshold ? names[top] : "safe"
            XCTAssertEqual(got, check.expect, "\(check.text): max probability \(probabilities[top]) (\(names[top]))")
        }
    }
}
