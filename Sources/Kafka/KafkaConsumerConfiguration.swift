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
    /// Messages buffered between the poll thread and the application. When the buffer is full
    /// the consumer pauses fetching of every assigned partition and resumes it once the buffer
    /// has drained to half; this bounds memory with a backlog of any size. Default: 2,000.
    public var maxBufferedMessages: Int
    /// `queued.max.messages.kbytes`: librdkafka's own prefetch limit per partition. Default: 8 MiB.
    public var maxPrefetchKilobytes: Int
    /// How long a revoke waits for the application to acknowledge it (finish and commit its
    /// in-flight work) before the partitions are released anyway. Default: 30 s.
    public var revokeTimeout: Duration
    /// How long one `rd_kafka_consumer_poll` call blocks. Default: 100 ms.
    public var pollTimeout: Duration

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
        maxPrefetchKilobytes: Int = 8 * 1024,
        revokeTimeout: Duration = .seconds(30),
        pollTimeout: Duration = .milliseconds(100)
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
        self.maxPrefetchKilobytes = maxPrefetchKilobytes
        self.revokeTimeout = revokeTimeout
        self.pollTimeout = pollTimeout
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
            "enable.partition.eof": "false",
        ]
        if let interval = autoCommitInterval {
            result["auto.commit.interval.ms"] = String(interval.milliseconds)
        }
        // The client's own properties come last, so passthrough overrides typed defaults.
        for (key, value) in client.librdkafkaProperties { result[key] = value }
        return result
    }
}
