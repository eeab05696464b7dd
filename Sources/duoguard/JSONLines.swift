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
