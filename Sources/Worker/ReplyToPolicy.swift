import Inference

/// Where a request's `reply-to` header may send its result.
///
/// `reply-to` is requester-controlled: without a policy, anyone who can produce a request
/// could make the worker write (with its credentials, a key and metadata of their choice) to
/// any topic. So the default denies every `reply-to`; an operator allows topics with a
/// regular expression that must match the whole name (`--reply-to-allow 'replies-.*'`).
/// A denied `reply-to` is answered with PERMISSION_DENIED on the output topic and a dead letter.
public struct ReplyToPolicy: Sendable {
    /// The allow-list pattern, `nil` when every `reply-to` is denied.
    public let pattern: String?
    private let regex: UncheckedRegex?

    /// No `reply-to` is honoured.
    public static let denyAll = ReplyToPolicy()

    private init() {
        pattern = nil
        regex = nil
    }

    /// Honours `reply-to` topics whose whole name matches `pattern`.
    public init(allowing pattern: String) throws(ConfigurationError) {
        do {
            regex = UncheckedRegex(try Regex(pattern))
        } catch {
            throw ConfigurationError("--reply-to-allow", "'\(pattern)' is not a valid regular expression: \(error)")
        }
        self.pattern = pattern
    }

    /// Whether results may go to `topic`.
    public func allows(_ topic: String) -> Bool {
        guard let regex else { return false }
        return (try? regex.value.wholeMatch(in: topic)) != nil
    }

    /// Why `topic` is not a valid Kafka topic name, or `nil` when it is: 1 to 249 characters
    /// of ASCII letters, digits, `.`, `_` and `-`, and not `.` or `..` (Kafka's own rule,
    /// checked here so a bad name is the requester's error, not a broker round trip).
    public static func invalidTopicReason(_ topic: String) -> String? {
        if topic.isEmpty { return "empty" }
        if topic.utf8.count > 249 { return "longer than 249 characters" }
        if topic == "." || topic == ".." { return "'.' and '..' are reserved" }
        let allowed = topic.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        return allowed ? nil : "only ASCII letters, digits, '.', '_' and '-' are allowed"
    }

    /// `Regex<AnyRegexOutput>` is an immutable value that is safe to match from any thread,
    /// but is not declared `Sendable`.
    private struct UncheckedRegex: @unchecked Sendable {
        let value: Regex<AnyRegexOutput>
        init(_ value: Regex<AnyRegexOutput>) { self.value = value }
    }
}
