import Worker
import XCTest

/// Admission of synchronous callers: bounded requests and bytes, refused at once beyond.
final class SyncAdmissionTests: XCTestCase {
    func testRequestLimit() throws {
        let admission = SyncAdmission(maxRequests: 2, maxBytes: 1_000)
        let a = try admission.admit(bytes: 10).get()
        _ = try admission.admit(bytes: 10).get()
        XCTAssertEqual(admission.admit(bytes: 10), .failure(.tooManyRequests(limit: 2)))
        admission.release(a)
        XCTAssertNoThrow(try admission.admit(bytes: 10).get())
        XCTAssertEqual(admission.requests, 2)
        XCTAssertEqual(admission.bytes, 20)
    }

    func testByteLimit() throws {
        let admission = SyncAdmission(maxRequests: 10, maxBytes: 100)
        let a = try admission.admit(bytes: 60).get()
        XCTAssertEqual(admission.admit(bytes: 41), .failure(.tooManyBytes(requested: 41, inUse: 60, limit: 100)))
        XCTAssertNoThrow(try admission.admit(bytes: 40).get())
        admission.release(a)
        XCTAssertEqual(admission.bytes, 40)
    }

    func testARequestLargerThanTheByteLimitIsAdmittedAlone() throws {
        let admission = SyncAdmission(maxRequests: 10, maxBytes: 100)
        let big = try admission.admit(bytes: 500).get()
        XCTAssertEqual(admission.admit(bytes: 1), .failure(.tooManyBytes(requested: 1, inUse: 500, limit: 100)))
        admission.release(big)
        XCTAssertEqual(admission.requests, 0)
        XCTAssertEqual(admission.bytes, 0)
    }
}
