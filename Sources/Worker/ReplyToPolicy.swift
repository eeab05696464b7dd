import Inference
import Kafka

/// Where a request's `reply-to` header may send its result.
///
/// `reply-to` is requester-controlled: without a policy, anyone who can produce a request
/// could make the worker write (with its credentials, a key and metadata of their choice) to
/// any topic. So the default denies every `reply-to`; an operator allows topics with a
/// pattern that must match the whole name (`--reply-to-allow 'replies-.*'`).
/// A denied `reply-to` is answered with PERMISSION_DENIED on the output topic and a dead letter.
///
/// The pattern is a `TopicPattern`: the regular-expression subset (literals, classes, groups,
/// `|`, `* + ? {n,m}`) that is matched in time linear in the name, so no pattern an operator
/// writes lets a requester's name stall intake (a backtracking engine takes exponential time
/// on `(r[a-z]+)+-out` against `rrrr…r.`). Patterns outside the subset are refused at start.
///
/// The worker's own input and dead-letter topics are never allowed, whatever the pattern
/// says: a result written there would come back as a request, or pose as a dead letter. An
/// input given as a subscription pattern (`^mod-.*`) reserves every topic it subscribes to.
public struct ReplyToPolicy: Sendable {
    /// The allow-list pattern, `nil` when every `reply-to` is denied.
    public var pattern: String? { allow?.source }
    private let allow: TopicPattern?
    /// Topics denied even when the pattern matches them (`reserving(_:)`).
    public private(set) var reserved: Set<String> = []
    /// Subscription patterns whose topics are denied too.
    private var reservedPatterns: [TopicPattern] = []
    /// A reserved subscription pattern could not be compiled: nothing is allowed then.
    private var reservesEverything = false

    /// No `reply-to` is honoured.
    public static let denyAll = ReplyToPolicy()

    private init() {
        allow = nil
    }

    /// Honours `reply-to` topics whose whole name matches `pattern`.
    public init(allowing pattern: String) throws(ConfigurationError) {
        do {
            allow = try TopicPattern(pattern)
        } catch {
            throw ConfigurationError("--reply-to-allow", "'\(pattern)' is not a supported pattern (\(error)); see docs/operations.md")
        }
    }

    /// The same policy, also denying `topics` (the worker's input and dead-letter topics). An
    /// entry starting with `^` is a subscription pattern and denies every topic it matches.
    public func reserving(_ topics: some Sequence<String>) -> ReplyToPolicy {
        var policy = self
        for topic in topics {
            if topic.hasPrefix("^") {
                // `WorkerConfiguration.validate()` refuses patterns that do not compile; should
                // one get here anyway, deny everything rather than guess.
                if let compiled = try? TopicPattern(subscription: topic) {
                    policy.reservedPatterns.append(compiled)
                } else {
                    policy.reservesEverything = true
                }
            } else {
                policy.reserved.insert(topic)
            }
        }
        return policy
    }

    /// Whether results may go to `topic`. Linear in the name's length.
    public func allows(_ topic: String) -> Bool {
        guard let allow, !reservesEverything, !reserved.contains(topic) else { return false }
        guard allow.matches(topic) else { return false }
        return !reservedPatterns.contains { $0.matches(topic) }
    }
}
