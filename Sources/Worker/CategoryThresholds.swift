import Foundation
import Inference

/// The unsafe threshold of each of the 12 categories: a default plus per-category overrides
/// (some categories warrant a stricter bar than others).
///
/// A category is flagged when its probability exceeds its threshold; a text is unsafe when
/// any category is flagged. With no overrides this is the model card's rule (max > 0.5).
/// Operators may use the closed range 0...1 (1 switches a category off: no probability
/// exceeds it); a request's own threshold must be strictly inside it.
public struct CategoryThresholds: Sendable, Equatable {
    /// One threshold per category, in model order (`DuoGuardModel.categoryNames`).
    public private(set) var values: [Float]
    /// The threshold of categories without an override (reported as the result's `threshold`).
    public let defaultValue: Float

    /// Every category at `value` (default: the model card's 0.5).
    public init(default value: Float = ModelConfig.referenceThreshold) {
        defaultValue = value
        values = Array(repeating: value, count: DuoGuardModel.categoryNames.count)
    }

    /// A validated default threshold (`--threshold`).
    public static func checked(default value: Float) throws(ConfigurationError) -> CategoryThresholds {
        guard (0...1).contains(value) else { throw ConfigurationError("--threshold", "\(value) is not within 0...1") }
        return CategoryThresholds(default: value)
    }

    /// Sets one category's threshold; `name` is the display name ("Hate"), the enum name
    /// (`HATE`), or its lower/snake-case form (`hate`, `violent_crimes`).
    public mutating func set(_ name: String, to value: Float) throws(ConfigurationError) {
        guard (0...1).contains(value) else {
            throw ConfigurationError("--category-threshold", "threshold \(value) for '\(name)' is not within 0...1")
        }
        guard let index = Self.index(of: name) else {
            throw ConfigurationError(
                "--category-threshold", "unknown category '\(name)'; known: \(DuoGuardModel.categoryNames.joined(separator: ", "))")
        }
        values[index] = value
    }

    /// Applies `NAME=P` settings (repeated `--category-threshold` flags or file lines).
    public mutating func apply(_ settings: [String]) throws(ConfigurationError) {
        for setting in settings {
            let trimmed = setting.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let equals = trimmed.lastIndex(of: "="),
                let value = Float(trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces))
            else { throw ConfigurationError("--category-threshold", "'\(setting)' is not NAME=P") }
            try set(String(trimmed[..<equals]).trimmingCharacters(in: .whitespaces), to: value)
        }
    }

    /// Reads a file of `NAME=P` lines (`#` comments), at most 64 KiB. Reads no more than that
    /// plus one byte, so a huge file or a device such as /dev/zero fails at once.
    public mutating func load(file path: String) throws(ConfigurationError) {
        let limit = 65_536
        let handle = FileHandle(forReadingAtPath: path)
        defer { try? handle?.close() }
        // `read` returns nil at end of file: an empty file is an empty list.
        let read: Data?? = try? handle?.read(upToCount: limit + 1)
        guard handle != nil, let data = read.map({ $0 ?? Data() }), data.count <= limit,
            let text = String(data: data, encoding: .utf8)
        else {
            throw ConfigurationError("--category-thresholds", "cannot read '\(path)' as a UTF-8 text file of at most 64 KiB")
        }
        try apply(text.split(whereSeparator: \.isNewline).map(String.init))
    }

    /// Indices of the categories whose probability exceeds their threshold.
    public func flagged(_ probabilities: [Float]) -> [Int] {
        probabilities.indices.filter { $0 < values.count && probabilities[$0] > values[$0] }
    }

    static func index(of name: String) -> Int? {
        func key(_ text: String) -> String {
            text.lowercased().filter { $0.isLetter }
        }
        let wanted = key(name)
        return DuoGuardModel.categoryNames.firstIndex { key($0) == wanted }
    }
}
