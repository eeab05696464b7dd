import Foundation
import ModerationProto

/// The unsafe threshold of each of the 12 categories: a default plus per-category overrides
/// (some categories warrant a stricter bar than others).
///
/// A category is flagged when its probability exceeds its threshold; a text is unsafe when
/// any category is flagged. With no overrides this is the model card's rule (max > 0.5).
public struct CategoryThresholds: Sendable, Equatable {
    /// One threshold per category, in model order.
    public private(set) var values: [Float]
    /// The threshold of categories without an override (reported as the result's `threshold`).
    public let defaultValue: Float

    public init(default value: Float = 0.5) {
        defaultValue = value
        values = Array(repeating: value, count: ModerationCategory.modelOutputCount)
    }

    /// Sets one category's threshold; `name` is the display name ("Hate"), the enum name
    /// (`HATE`), or its lower/snake-case form (`hate`, `violent_crimes`).
    public mutating func set(_ name: String, to value: Float) throws(WorkerError) {
        guard (0...1).contains(value) else { throw .startup("threshold \(value) for '\(name)' is not within 0...1") }
        guard let index = Self.index(of: name) else {
            throw .startup("unknown category '\(name)'; known: \(ModerationCategory.displayNames.joined(separator: ", "))")
        }
        values[index] = value
    }

    /// Applies `NAME=P` settings (repeated `--category-threshold` flags or file lines).
    public mutating func apply(_ settings: [String]) throws(WorkerError) {
        for setting in settings {
            let trimmed = setting.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let equals = trimmed.lastIndex(of: "="),
                let value = Float(trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces))
            else { throw .startup("category threshold '\(setting)' is not NAME=P") }
            try set(String(trimmed[..<equals]).trimmingCharacters(in: .whitespaces), to: value)
        }
    }

    /// Reads a file of `NAME=P` lines (`#` comments).
    public mutating func load(file path: String) throws(WorkerError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .startup("cannot read category threshold file '\(path)'")
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
        return ModerationCategory.displayNames.firstIndex { key($0) == wanted }
    }
}
