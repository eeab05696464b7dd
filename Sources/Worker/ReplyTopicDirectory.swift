import Kafka
import Synchronization

/// Which `reply-to` topics exist, from the cluster's metadata: a bounded, refreshed cache.
///
/// A result is only produced to a topic the cluster already has, so a requester cannot make
/// the worker create topics (`reply-to: replies-<n>` on a cluster with auto-creation, Kafka's
/// default) or make librdkafka keep a topic object per name for the producer's lifetime. (The
/// producer also runs with `allow.auto.create.topics=false`; this cache is what keeps an
/// unknown name from reaching the producer at all.) A missing topic is answered NOT_FOUND.
///
/// The cache holds only names the reply-to policy allows, at most `maxTopics` of them. It is
/// refreshed when older than `maxAge`, and on a miss when older than `minInterval`, so a topic
/// created a moment before a request names it is found, while a stream of requests naming
/// missing topics costs at most one metadata request per `minInterval`. Refreshes are
/// single-flight: concurrent lookups wait for the one in progress.
final class ReplyTopicDirectory: Sendable {
    /// Lists the cluster's topics (names → partition counts); never names a topic, so it
    /// cannot cause one to be created.
    typealias Listing = @Sendable () async throws -> [String: Int]

    let maxTopics: Int
    let maxAge: Duration
    let minInterval: Duration
    private let list: Listing
    private let relevant: @Sendable (String) -> Bool
    private let state = Mutex(State())

    private struct State: ~Copyable {
        var known: Set<String> = []
        var refreshedAt: ContinuousClock.Instant?
        /// When the last listing was started, answered or not: failures are rate-limited too.
        var attemptedAt: ContinuousClock.Instant?
        var refresh: Task<Void, Never>?
        var refreshes = 0
    }

    init(
        maxTopics: Int = 100_000, maxAge: Duration = .seconds(30), minInterval: Duration = .seconds(1),
        relevant: @escaping @Sendable (String) -> Bool, list: @escaping Listing
    ) {
        self.maxTopics = maxTopics
        self.maxAge = maxAge
        self.minInterval = minInterval
        self.relevant = relevant
        self.list = list
    }

    /// The worker's directory: listings by its producer (a metadata request for all topics,
    /// which names none), keeping the names `policy` allows (input and dead-letter reserved).
    convenience init(producer: KafkaProducer, policy: ReplyToPolicy) {
        self.init(relevant: { policy.allows($0) }, list: { try await producer.topics(timeout: .seconds(5)) })
    }

    /// Metadata requests made so far (for tests and the note's figures).
    var refreshCount: Int { state.withLock { $0.refreshes } }

    /// Whether `topic` exists: `true`/`false` from metadata at most `maxAge` old (refreshed
    /// first when needed), `nil` when the cluster could not be asked and the last listing is
    /// too old or never came (the caller may then send: the producer cannot create topics).
    func exists(_ topic: String) async -> Bool? {
        let now = ContinuousClock.now
        let (known, age, sinceAttempt) = state.withLock {
            ($0.known.contains(topic), $0.refreshedAt.map { now - $0 }, $0.attemptedAt.map { now - $0 })
        }
        if let age, age < maxAge, known || age < minInterval { return known }
        if (sinceAttempt ?? .seconds(Int64.max)) >= minInterval { await refresh() }
        return state.withLock { state in
            guard let at = state.refreshedAt, ContinuousClock.now - at < maxAge + minInterval else { return nil }
            return state.known.contains(topic)
        }
    }

    /// Lists the topics once (joining a listing already under way).
    private func refresh() async {
        let task: Task<Void, Never> = state.withLock { current in
            if let running = current.refresh { return running }
            current.attemptedAt = .now
            let task = Task { [self] in
                let names = try? await list().keys
                let kept = names.map { Set($0.lazy.filter(relevant).prefix(maxTopics)) }
                state.withLock { done in
                    if let kept {
                        done.known = kept
                        done.refreshedAt = ContinuousClock.now
                    }
                    done.refreshes += 1
                    done.refresh = nil
                }
            }
            current.refresh = task
            return task
        }
        await task.value
    }
}
