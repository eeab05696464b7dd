import XCTest
import ModerationProto

final class ContentTypeTests: XCTestCase {
    func testAbsentOrEmptyMeansProtobuf() throws {
        XCTAssertEqual(try ContentType.parse(nil), .protobuf)
        XCTAssertEqual(try ContentType.parse(""), .protobuf)
        XCTAssertEqual(try ContentType.parse("  "), .protobuf)
    }

    func testCaseInsensitiveWithParameters() throws {
        XCTAssertEqual(try ContentType.parse("application/json"), .json)
        XCTAssertEqual(try ContentType.parse("Application/JSON; charset=utf-8"), .json)
        XCTAssertEqual(try ContentType.parse(" application/json ;charset=UTF-8"), .json)
        XCTAssertEqual(try ContentType.parse("application/x-protobuf"), .protobuf)
        XCTAssertEqual(try ContentType.parse("APPLICATION/X-PROTOBUF"), .protobuf)
        XCTAssertEqual(try ContentType.parse("application/protobuf; proto=duoguard.moderation.v1.ModerationRequest"), .protobuf)
    }

    func testUnknownIsATypedErrorCarryingTheRawValue() {
        for value in ["text/plain", "application/xml", "json", "application/json+x"] {
            XCTAssertThrowsError(try ContentType.parse(value)) { error in
                XCTAssertEqual(error as? ModerationDecodeError, .unknownContentType(value))
                XCTAssertEqual((error as? ModerationDecodeError)?.code, "UNKNOWN_CONTENT_TYPE")
            }
        }
    }

    func testHeaderValues() {
        XCTAssertEqual(ContentType.protobuf.headerValue, "application/x-protobuf")
        XCTAssertEqual(ContentType.json.headerValue, "application/json")
    }
}
