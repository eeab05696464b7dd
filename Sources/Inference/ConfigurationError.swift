/// An option or setting that cannot work, found before anything starts (so a process fails
/// at start-up with a message naming the setting, instead of misbehaving later).
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The setting, spelled as its command-line flag (`--max-tokens`).
    public var setting: String
    /// What is wrong and what would be accepted.
    public var reason: String

    public init(_ setting: String, _ reason: String) {
        self.setting = setting
        self.reason = reason
    }

    public var description: String { "\(setting): \(reason)" }
}
