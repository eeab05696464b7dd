import Foundation
import Inference
import XCTest

/// Long-text window mode against the reference, through the product's path
/// (`score(_:scoring:)` with `--long-text windows`, what the worker and `duoguard classify`
/// call): the real Llama-3.2 tokenizer (embedded in the GGUF), the tiny-a fixture model, a
/// text several times longer than its 512-token window, against transformers run per window
/// on windows cut by the documented rule in Python (scripts/window-fixtures.py writes
/// Fixtures/tiny-a/windows.json).
final class WindowParityTests: XCTestCase {
    struct Reference: Decodable {
        struct Case: Decodable {
            var max_tokens: Int
            var overlap: Int
            var windows: [[Int32]]
            var logits: [[Float]]
            var max_logits: [Float]
        }
        var text: String
        var content_tokens: Int
        var cases: [Case]
    }

    func testWindowsScoreLikeTransformersPerWindow() throws {
        try ModelFixtures.requireTokenizer()
        let data = try Data(contentsOf: ModelFixtures.fixtures.appendingPathComponent("tiny-a/windows.json"))
        let reference = try JSONDecoder().decode(Reference.self, from: data)
        XCTAssertGreaterThan(reference.content_tokens, 1024, "longer than two windows of 512")
        let model = try ModelFixtures.model("tiny-a", type: .f32, budget: 4096)
        XCTAssertEqual(model.config.maxTokens, 512)
        for expected in reference.cases {
            let scoring = TextScoring(maxTokens: expected.max_tokens, longText: .windows, windowOverlap: expected.overlap)
            let scored = try model.score([reference.text], scoring: scoring)
            let (prepared, classification) = try XCTUnwrap(scored.first)
            let label = "max_tokens \(expected.max_tokens) overlap \(expected.overlap)"
            XCTAssertGreaterThan(expected.windows.count, 2, label)
            XCTAssertEqual(prepared.sequences, expected.windows, "\(label): windows cut as documented")
            XCTAssertFalse(prepared.truncated)
            XCTAssertLessThanOrEqual(ModelFixtures.maxAbsDifference(classification.logits, expected.max_logits), 1e-4, label)
            // Each window alone, too: the maximum is not hiding a wrong window.
            let perWindow = try model.classify(batch: expected.windows)
            for (index, (got, want)) in zip(perWindow, expected.logits).enumerated() {
                XCTAssertLessThanOrEqual(ModelFixtures.maxAbsDifference(got.logits, want), 1e-4, "\(label), window \(index)")
            }
        }
    }
}
