import Foundation

/// One JSON object per line, for the command-line tools' output: `Encodable` values written
/// by `JSONEncoder` with sorted keys (stable output that diffs well), without slash escaping.
enum JSONLines {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The line for `value` (no newline).
    static func line<T: Encodable>(_ value: T) -> String {
        guard let data = try? encoder.encode(value) else { return "{\"error\":\"unencodable output\"}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A `Float` that encodes as a JSON number, or `null` when not finite (JSON has no NaN).
struct JSONNumber: Encodable {
    let value: Float
    init(_ value: Float) { self.value = value }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if value.isFinite { try container.encode(value) } else { try container.encodeNil() }
    }
}
