import XCTest
import ModerationProto

/// The enum ↔ model-output mapping is the one place where an off-by-one would silently
/// mislabel every score, so it is pinned down value by value.
final class CategoryTests: XCTestCase {
    func testTwelveModelOutputs() {
        XCTAssertEqual(ModerationCategory.modelOutputCount, 12)
    }

    func testModelIndexIsEnumValueMinusOne() {
        XCTAssertEqual(ModerationCategory.modelOrder.count, 12)
        for (index, category) in ModerationCategory.modelOrder.enumerated() {
            XCTAssertEqual(category.rawValue, index + 1)
            XCTAssertEqual(category.modelIndex, index)
            XCTAssertEqual(ModerationCategory(modelIndex: index), category)
        }
        XCTAssertEqual(ModerationCategory(modelIndex: 0), .violentCrimes)
        XCTAssertEqual(ModerationCategory(modelIndex: 8), .hate)
        XCTAssertEqual(ModerationCategory(modelIndex: 11), .jailbreakPrompts)
        XCTAssertEqual(ModerationCategory.jailbreakPrompts.rawValue, 12)
    }

    func testOutOfRangeHasNoModelIndex() {
        XCTAssertNil(ModerationCategory(modelIndex: -1))
        XCTAssertNil(ModerationCategory(modelIndex: 12))
        XCTAssertNil(ModerationCategory.unspecified.modelIndex)
        XCTAssertNil(ModerationCategory.UNRECOGNIZED(13).modelIndex)
    }
}
