import Foundation
import Inference
import XCTest

/// Issue 21, items 9 and 10: a bad sequence fails only its own text; a text's deadline is
/// checked between forward passes over its windows; a tokenizer of another model is refused.
final class PerRequestFailureTests: XCTestCase {
    func testABadTokenFailsOnlyItsOwnText() throws {
        let model = try ModelFixtures.model("tiny-b", type: .q8_0, budget: 64)
        let good = PreparedText(sequences: [[1, 20, 30]], truncated: false)
        let windows = PreparedText(sequences: [[1, 5, 6], [1, 7, 8]], truncated: false)
        let bad = PreparedText(sequences: [[1, 2], [1, 8192]], truncated: false)
        let empty = PreparedText(sequences: [[]], truncated: false)
        let long = PreparedText(sequences: [[Int32](repeating: 5, count: 65)], truncated: false)
        // Before: one bad text failed the whole batch.
        XCTAssertThrowsError(try model.classify([good, bad, windows]))
        let outcomes = model.classifyEach([good, bad, windows, empty, long])
        let expected = try model.classify([good, windows])
        XCTAssertEqual(try outcomes[0].get(), expected[0])
        XCTAssertEqual(try outcomes[2].get(), expected[1])
        XCTAssertThrowsError(try outcomes[1].get()) { XCTAssertEqual($0 as? InferenceError, .tokenOutOfRange(sequence: 1, token: 8192, vocabSize: 8192)) }
        XCTAssertThrowsError(try outcomes[3].get()) { XCTAssertEqual($0 as? InferenceError, .emptySequence(index: 0)) }
        XCTAssertThrowsError(try outcomes[4].get()) { XCTAssertEqual($0 as? InferenceError, .sequenceTooLong(index: 0, tokens: 65, budget: 64)) }
    }

    /// A text of 40 windows over a 64-token budget takes 10 forward passes; its deadline
    /// passing after the first stops it there, while the other text is still scored.
    func testDeadlineIsCheckedBetweenWindowBatches() throws {
        let model = try ModelFixtures.model("tiny-b", type: .q8_0, budget: 64)
        let many = PreparedText(sequences: (0..<40).map { [1, Int32(10 + $0), 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24] }, truncated: false)
        let short = PreparedText(sequences: [[1, 2, 3]], truncated: false)
        var asked = 0
        let outcomes = model.classifyEach([many, short]) { text in
            guard text == 0 else { return false }
            asked += 1
            return asked > 1  // passes after the first forward pass
        }
        guard case .failure(.deadlineExceeded(let done, let windows)) = outcomes[0] else { return XCTFail("\(outcomes[0])") }
        XCTAssertEqual(windows, 40)
        XCTAssertLessThan(done, 40, "stopped before its last window")
        XCTAssertGreaterThan(done, 0)
        XCTAssertEqual(try outcomes[1].get(), try model.classify([short])[0])
        let unbounded = model.classifyEach([many])
        XCTAssertEqual(try unbounded[0].get(), try model.classify([many])[0], "without a deadline: the same score as before")
    }

    func testTokenizerOfAnotherModelIsRefused() throws {
        // tiny-b has 8,192 embedding rows; the Llama-3.2 tokenizer it carries has 128,256 ids.
        let mismatched = try ModelFixtures.model("tiny-b", type: .q8_0, budget: 64)
        XCTAssertThrowsError(try mismatched.checkVocabulary()) { error in
            XCTAssertTrue("\(error)".contains("8192"), "\(error)")
        }
        let matched = try ModelFixtures.model("tiny-a", type: .q8_0, budget: 64)
        XCTAssertNoThrow(try matched.checkVocabulary())
    }
}
