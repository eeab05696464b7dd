/// Settings of a `KafkaConsumer` in a consumer group.
public struct KafkaConsumerConfiguration: Sendable {
    /// Where to reach the cluster and any librdkafka passthrough properties.
    public var client: KafkaConfiguration
    /// `group.id`: consumers sharing it split the partitions between them.
    public var groupID: String
    /// `session.timeout.ms`: a member silent this long is removed from the group. Default: 45 s
    /// (Kafka's own default). Tests against the local broker use a few seconds.
    public var sessionTimeout: Duration
    /// `heartbeat.interval.ms`. Default: 3 s; keep it well below `sessionTimeout`.
    public var heartbeatInterval: Duration
    /// `max.poll.interval.ms`: the poll thread polls continuously, so this only trips when the
    /// application holds a revoke for longer. Default: 300 s.
    public var maxPollInterval: Duration
    /// Where to start when the group has no committed offset. Default: `.earliest`, so no request
    /// that reached the topic before the first worker started is ever skipped.
    public var autoOffsetReset: AutoOffsetReset
    /// `partition.assignment.strategy`. Default: `.cooperativeSticky` (incremental rebalances:
    /// a member keeps working on the partitions it keeps while others move).
    public var assignmentStrategy: AssignmentStrategy
    /// When set, librdkafka commits *stored* offsets in the background at this interval
    /// (`enable.auto.commit=true`); offsets are still stored only by the application
    /// (`enable.auto.offset.store=false`). `nil`: only explicit `commit()` calls. Default: 5 s.
    public var autoCommitInterval: Duration?
    /// Messages buffered between the poll thread and the application. When the buffer holds
    /// this many messages *or* `maxBufferedBytes`, the consumer pauses fetching of every
    /// assigned partition and resumes once both are down to half; this bounds memory with a
    /// backlog of any size. Default: 2,000.
    public var maxBufferedMessages: Int
    /// Bytes buffered between the poll thread and the application (key, value, headers and a
    /// fixed 128-byte overhead per message), the other flow-control limit. The buffer exceeds
    /// it by at most one message. Default: 64 MiB.
    public var maxBufferedBytes: Int
    /// The largest record batch a topic may hold, as the broker/topic `max.message.bytes`
    /// (Kafka's default: 1,048,588). It sizes librdkafka's fetches: `max.partition.fetch.bytes`
    /// = this, `fetch.max.bytes` = max(this, prefetch, 1,000,000), `receive.message.max.bytes`
    /// = `fetch.max.bytes` + this + 64 KiB (a broker may end a response with one batch past
    /// `fetch.max.bytes`; tansu does). Set it to at least the topic's limit: a response larger
    /// than `receive.message.max.bytes` cannot be read at all, and the partition stalls with
    /// "Invalid response size" errors. Default: 1,048,588.
    public var maxMessageBytes: Int
    /// `queued.max.messages.kbytes`: librdkafka's own prefetch limit for the whole consumer
    /// queue (librdkafka 2.x, high-level consumer). Default: 8 MiB.
    public var maxPrefetchKilobytes: Int
    /// How long a revoke waits for the application to acknowledge it (finish and commit its
    /// in-flight work) before the partitions are released anyway. Default: 30 s.
    public var revokeTimeout: Duration
    /// `enable.partition.eof`: queue librdkafka's partition-EOF events in order with the
    /// records, for `KafkaConsumer.onPartitionEnd` (the last consumable offset, control
    /// records skipped; what a bounded read such as a replay ends on). Default: false.
    public var reportsPartitionEnd = false
    /// `fetch.wait.max.ms`: how long the broker may hold a fetch that finds no new records
    /// before answering it empty. Apache Kafka answers a waiting fetch as soon as records
    /// arrive, so there this bounds only idle fetch traffic; a broker that does not (the local
    /// test broker, tansu, polls its log during the wait) makes a record arriving during a wait
    /// sit there until it ends, which adds up to this much to every request's latency.
    /// Default: 500 ms (Kafka's and librdkafka's).
    public var fetchWait: Duration = .milliseconds(500)
    /// How long one `rd_kafka_consumer_poll` call blocks. Default: 100 ms.
    public var pollTimeout: Duration
    /// The hard upper bound of `close()`: leaving the group (including the application's
    /// revoke, up to `revokeTimeout` or this, whichever ends first), the final commit and
    /// freeing librdkafka. Should librdkafka not finish by then, `close()` returns anyway
    /// (the handle is left to the poll thread). Default: 60 s.
    public var closeTimeout: Duration

    public enum AutoOffsetReset: String, Sendable {
        case earliest, latest, error
    }

    public enum AssignmentStrategy: String, Sendable {
        case cooperativeSticky = "cooperative-sticky"
        case range
        case roundRobin = "roundrobin"
    }

    public init(
        client: KafkaConfiguration = KafkaConfiguration(),
        groupID: String,
        sessionTimeout: Duration = .seconds(45),
        heartbeatInterval: Duration = .seconds(3),
        maxPollInterval: Duration = .seconds(300),
        autoOffsetReset: AutoOffsetReset = .earliest,
        assignmentStrategy: AssignmentStrategy = .cooperativeSticky,
        autoCommitInterval: Duration? = .seconds(5),
        maxBufferedMessages: Int = 2_000,
        maxBufferedBytes: Int = 64 * 1024 * 1024,
        maxMessageBytes: Int = 1_048_588,
        maxPrefetchKilobytes: Int = 8 * 1024,
        revokeTimeout: Duration = .seconds(30),
        pollTimeout: Duration = .milliseconds(100),
        closeTimeout: Duration = .seconds(60)
    ) {
        self.client = client
        self.groupID = groupID
        self.sessionTimeout = sessionTimeout
        self.heartbeatInterval = heartbeatInterval
        self.maxPollInterval = maxPollInterval
        self.autoOffsetReset = autoOffsetReset
        self.assignmentStrategy = assignmentStrategy
        self.autoCommitInterval = autoCommitInterval
        self.maxBufferedMessages = maxBufferedMessages
        self.maxBufferedBytes = maxBufferedBytes
        self.maxMessageBytes = maxMessageBytes
        self.maxPrefetchKilobytes = maxPrefetchKilobytes
        self.revokeTimeout = revokeTimeout
        self.pollTimeout = pollTimeout
        self.closeTimeout = closeTimeout
    }

    /// Checks the limits; `KafkaConsumer.init` calls it. Throws a `.configuration` error.
    public func validate() throws(KafkaError) {
        if let property = KafkaGuaranteeProperties.violation(in: client.properties, protected: KafkaGuaranteeProperties.consumer) {
            throw KafkaGuaranteeProperties.error(property)
        }
        guard maxBufferedMessages > 0 else { throw .configuration("maxBufferedMessages must be positive (is \(maxBufferedMessages))") }
        guard maxBufferedBytes > 0 else { throw .configuration("maxBufferedBytes must be positive (is \(maxBufferedBytes))") }
        guard (1_000...1_000_000_000).contains(maxMessageBytes) else {
            throw .configuration("maxMessageBytes must be within 1000...1000000000 (is \(maxMessageBytes))")
        }
        guard (1...Self.maxPrefetchKilobytesAllowed).contains(maxPrefetchKilobytes) else {
            throw .configuration("maxPrefetchKilobytes must be within 1...\(Self.maxPrefetchKilobytesAllowed) (is \(maxPrefetchKilobytes))")
        }
        // closeTimeout may be below revokeTimeout: an application that acknowledges the revoke
        // at close quickly (the worker's skips its drain) bounds its stop by closeTimeout.
        guard fetchWait >= .zero && fetchWait <= .seconds(300) else {
            throw .configuration("fetchWait must be within 0...300000 ms (is \(fetchWait.milliseconds) ms)")
        }
        guard pollTimeout > .zero, revokeTimeout >= .zero, closeTimeout > .zero else {
            throw .configuration("pollTimeout and closeTimeout must be positive, revokeTimeout not negative")
        }
    }

    /// librdkafka's ranges: `fetch.max.bytes` ≤ 2,147,483,135, `receive.message.max.bytes` ≤
    /// 2,147,483,647, `queued.max.messages.kbytes` ≤ 2,097,151.
    static let maxFetchBytes = 1_000_000_000
    static let maxPrefetchKilobytesAllowed = 2_097_151
    /// Room above `fetch.max.bytes` + one batch in `receive.message.max.bytes` for the
    /// response's framing.
    static let receiveOverhead = 64 * 1024

    /// `receive.message.max.bytes`: the largest fetch response librdkafka reads.
    var receiveMaxBytes: Int {
        fetchMaxBytes + maxMessageBytes + Self.receiveOverhead
    }

    /// `fetch.max.bytes`: one fetch response's data, at least one record batch and at least
    /// librdkafka's consumer `message.max.bytes` (1,000,000), which it requires.
    var fetchMaxBytes: Int {
        min(Self.maxFetchBytes, max(maxMessageBytes, maxPrefetchKilobytes * 1024, 1_000_000))
    }

    var librdkafkaProperties: [String: String] {
        var result: [String: String] = [
            "group.id": groupID,
            "session.timeout.ms": String(sessionTimeout.milliseconds),
            "heartbeat.interval.ms": String(heartbeatInterval.milliseconds),
            "max.poll.interval.ms": String(maxPollInterval.milliseconds),
            "auto.offset.reset": autoOffsetReset.rawValue,
            "partition.assignment.strategy": assignmentStrategy.rawValue,
            "enable.auto.offset.store": "false",
            "enable.auto.commit": autoCommitInterval == nil ? "false" : "true",
            "queued.max.messages.kbytes": String(maxPrefetchKilobytes),
            "max.partition.fetch.bytes": String(maxMessageBytes),
            "fetch.max.bytes": String(fetchMaxBytes),
            "fetch.wait.max.ms": String(fetchWait.milliseconds),
            "receive.message.max.bytes": String(receiveMaxBytes),
            // Partition EOF events mark the last consumable offset (`onPartitionEnd`).
            "enable.partition.eof": reportsPartitionEnd ? "true" : "false",
            "allow.auto.create.topics": "false",
        ]
        if let interval = autoCommitInterval {
            result["auto.commit.interval.ms"] = String(interval.milliseconds)
        }
        // The client's own properties come last, so passthrough overrides typed defaults.
        for (key, value) in client.librdkafkaProperties { result[key] = value }
        return result
    }
}
