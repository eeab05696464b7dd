import Inference

/// Where a request's `reply-to` header may send its result.
///
/// `reply-to` is requester-controlled: without a policy, anyone who can produce a request
/// could make the worker write (with its credentials, a key and metadata of their choice) to
/// any topic. So the default denies every `reply-to`; an operator allows topics with a
/// regular expression that must match the whole name (`--reply-to-allow 'replies-.*'`).
/// A denied `reply-to` is answered with PERMISSION_DENIED on the output topic and a dead letter.
/// The worker's own input and dead-letter topics are never allowed, whatever the pattern
/// says: a result written there would come back as a request, or pose as a dead letter.
public struct ReplyToPolicy: Sendable {
    /// The allow-list pattern, `nil` when every `reply-to` is denied.
    public let pattern: String?
    private let regex: UncheckedRegex?
    /// Topics denied even when the pattern matches them (`reserving(_:)`).
    public private(set) var reserved: Set<String> = []

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

    /// The same policy, also denying `topics` (the worker's input and dead-letter topics).
    public func reserving(_ topics: some Sequence<String>) -> ReplyToPolicy {
        var policy = self
        policy.reserved.formUnion(topics)
        return policy
    }

    /// Whether results may go to `topic`.
    public func allows(_ topic: String) -> Bool {
        guard let regex, !reserved.contains(topic) else { return false }
        return (try? regex.value.wholeMatch(in: topic)) != nil
    }

    /// `Regex<AnyRegexOutput>` is an immutable value that is safe to match from any thread,
    /// but is not declared `Sendable`.
    private struct UncheckedRegex: @unchecked Sendable {
        let value: Regex<AnyRegexOutput>
        init(_ value: Regex<AnyRegexOutput>) { self.value = value }
    }
}
