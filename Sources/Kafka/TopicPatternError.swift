/// Why a topic pattern was refused: its syntax is outside what `TopicPattern` matches in
/// linear time, or it is malformed.
public struct TopicPatternError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset in the pattern where the problem was found.
    public var position: Int
    public var reason: String

    public var description: String { "at byte \(position): \(reason)" }
}
