/// A syntax error with no caller-specific type: what `JSONValue(parsing:)` throws for small
/// documents (config.json, a safetensors header, one JSON line) whose callers only report it.
public struct JSONSyntaxError: JSONSyntaxFailure, Equatable, CustomStringConvertible {
    /// What was wrong.
    public let detail: String
    /// The byte index in the text where it was found.
    public let offset: Int

    public static func jsonSyntax(_ detail: String, at offset: Int) -> JSONSyntaxError {
        JSONSyntaxError(detail: detail, offset: offset)
    }

    public var description: String { "\(detail) at byte \(offset)" }
}
