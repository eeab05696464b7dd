import Foundation
import XCTest
import ModerationProto

/// Expected instants were computed independently (Python `datetime.fromisoformat`).
final class DeadlineHeaderTests: XCTestCase {
    private func seconds(_ value: String) -> Double? {
        DeadlineHeader.parse(value)?.timeIntervalSince1970
    }

    func testRFC3339() {
        XCTAssertEqual(seconds("2025-01-31T12:00:00Z"), 1_738_324_800)
        XCTAssertEqual(seconds("2025-01-31t12:00:00z"), 1_738_324_800)
        XCTAssertEqual(seconds("2025-01-31 12:00:00Z"), 1_738_324_800)
        XCTAssertEqual(seconds("2025-01-31T12:00:00+00:00"), 1_738_324_800)
        XCTAssertEqual(seconds("2025-01-31T12:00:00.250+01:00"), 1_738_321_200.25)
        XCTAssertEqual(seconds("2024-02-29T23:59:59-05:30"), 1_709_270_999)
        XCTAssertEqual(seconds("1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(seconds("1969-12-31T23:59:59Z"), -1)
        XCTAssertEqual(seconds("2000-03-01T00:00:00Z"), 951_868_800)
        XCTAssertEqual(seconds("  2025-01-31T12:00:00Z "), 1_738_324_800)
    }

    func testFractionalSeconds() throws {
        XCTAssertEqual(try XCTUnwrap(seconds("2025-01-31T12:00:00.5Z")), 1_738_324_800.5, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(seconds("2025-01-31T12:00:00.123456789Z")), 1_738_324_800.123456789, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(seconds("2025-01-31T12:00:00.1234567891234Z")), 1_738_324_800.123456789, accuracy: 1e-6)
    }

    func testEpochMilliseconds() {
        XCTAssertEqual(seconds("1738324800000"), 1_738_324_800)
        XCTAssertEqual(seconds("1738324800250"), 1_738_324_800.25)
        XCTAssertEqual(seconds("0"), 0)
    }

    func testRejected() {
        for value in [
            "", " ", "abc", "12.5", "-1000", "+1000", "1e12", "1234567890123456",
            "2025-01-31T12:00:00",        // no zone: ambiguous
            "2025-01-31",                 // date only
            "2025-01-31T12:00Z",          // no seconds
            "2025-1-31T12:00:00Z",
            "2025-13-01T00:00:00Z", "2025-00-01T00:00:00Z",
            "2023-02-29T00:00:00Z", "2025-04-31T00:00:00Z", "2025-01-00T00:00:00Z",
            "2025-01-31T24:00:00Z", "2025-01-31T12:60:00Z", "2025-01-31T12:00:61Z",
            "2025-01-31T12:00:00.Z",
            "2025-01-31T12:00:00+0100", "2025-01-31T12:00:00+24:00", "2025-01-31T12:00:00+01",
            "2025-01-31T12:00:00Zjunk", "2025-01-31X12:00:00Z",
            "２０２５-01-31T12:00:00Z",
        ] {
            XCTAssertNil(DeadlineHeader.parse(value), value)
        }
    }

    func testLeapYearsAndLeapSecond() {
        XCTAssertNotNil(DeadlineHeader.parse("2000-02-29T00:00:00Z"))
        XCTAssertNil(DeadlineHeader.parse("1900-02-29T00:00:00Z"))
        XCTAssertEqual(seconds("2016-12-31T23:59:60Z"), seconds("2017-01-01T00:00:00Z"))
    }
}
