import Foundation
import KafkaHeaders
import ModerationProto
import XCTest
import TestSupport

/// One golden Kafka record from Tests/Fixtures/interop, written by the reference libraries
/// (Confluent's serializers, the CloudEvents SDK) through scripts/interop-fixtures.py.
struct InteropFixture {
    let description: String
    let headers: [KafkaHeader]
    let value: [UInt8]

    static let directory = RepositoryRoot.url.appendingPathComponent("Tests/Fixtures/interop")

    init(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = Self.directory.appendingPathComponent("\(name).json")
        let data = try Data(contentsOf: url)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let description = object["description"] as? String,
              let headers = object["headers"] as? [[String: Any]],
              let valueHex = object["value_hex"] as? String,
              let value = Self.bytes(hex: valueHex)
        else {
            XCTFail("fixture \(name) is not in the expected shape", file: file, line: line)
            throw CocoaError(.fileReadCorruptFile)
        }
        self.description = description
        self.value = value
        self.headers = headers.map { entry in
            let key = entry["key"] as? String ?? ""
            if let text = entry["value"] as? String { return KafkaHeader(key: key, string: text) }
            if let hex = entry["value_hex"] as? String { return KafkaHeader(key: key, value: Self.bytes(hex: hex)) }
            return KafkaHeader(key: key, value: nil)
        }
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
            index += 2
        }
        return out
    }
}

/// Asserts that `body` throws exactly `expected` (and so its dead-letter code).
func assertDecodeError<T>(
    _ expected: ModerationDecodeError, file: StaticString = #filePath, line: UInt = #line,
    _ body: () throws(ModerationDecodeError) -> T
) {
    do {
        let value = try body()
        XCTFail("expected \(expected.code) (\(expected)), got \(value)", file: file, line: line)
    } catch {
        XCTAssertEqual(error, expected, file: file, line: line)
        XCTAssertEqual(error.code, expected.code, file: file, line: line)
    }
}

/// Asserts that `body` throws an error with the dead-letter code `code`, whatever its detail.
func assertDecodeErrorCode<T>(
    _ code: String, file: StaticString = #filePath, line: UInt = #line,
    _ body: () throws(ModerationDecodeError) -> T
) {
    do {
        let value = try body()
        XCTFail("expected \(code), got \(value)", file: file, line: line)
    } catch {
        XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
    }
}
