import Foundation
import Inference
import Tokenizer
import XCTest

/// Text in, scores out, through the product's path (`score(_:scoring:)`, as the worker and
/// `duoguard classify` call it): the tokenizer embedded in the GGUF file, truncation at 512,
/// pooling over a literal `<|end_of_text|>`, against transformers + HF tokenizers.
final class EndToEndTests: XCTestCase {
    func testTextsClassifyLikeTheReference() throws {
        let reference = try ModelFixtures.reference("tiny-a")
        XCTAssertFalse(reference.texts.isEmpty, "regenerate fixtures with the tokenizer present")
        let model = try ModelFixtures.model("tiny-a", type: .f32, budget: 2048)
        let results = try model.score(reference.texts.map(\.text), scoring: TextScoring(for: model.config))
        XCTAssertEqual(results.count, reference.texts.count)
        for (result, expected) in zip(results, reference.texts) {
            XCTAssertEqual(result.prepared.sequences, [expected.ids], "token ids of \(expected.text.prefix(40).debugDescription)")
            XCTAssertEqual(result.prepared.truncated, expected.truncated)
            XCTAssertLessThanOrEqual(ModelFixtures.maxAbsDifference(result.classification.logits, expected.logits), 1e-4,
                                     expected.text.prefix(40).debugDescription)
        }
    }

    func testQuantizedModelClassifiesTexts() throws {
        let model = try ModelFixtures.model("tiny-a", type: .q4_0, budget: 1024)
        let results = try model.score(["hello", "", String(repeating: "word ", count: 2000)], scoring: TextScoring(maxTokens: 512))
        XCTAssertEqual(results.map(\.prepared.tokenCount), [2, 1, 512])
        XCTAssertEqual(results[2].prepared.truncated, true)
        for r in results {
            XCTAssertEqual(r.classification.probabilities.count, 12)
            XCTAssertTrue(r.classification.probabilities.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
    }

    /// The 12 names, in model order, against the list the fixture script writes from the
    /// model card (scripts/model-fixtures.py CATEGORIES), not against our own copy.
    func testCategoryNamesMatchTheModelCard() throws {
        let data = try Data(contentsOf: ModelFixtures.fixtures.appendingPathComponent("categories.json"))
        let card = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String])
        XCTAssertEqual(DuoGuardModel.categoryNames, card)
    }
}
