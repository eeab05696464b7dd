/// What a consumer owns and why it is not fetching: the rules of rebalances, assignment
/// epochs, application pauses and flow control, as a plain value (no librdkafka), so they are
/// unit tested without a broker. `KafkaConsumer` keeps one in a mutex and applies the
/// librdkafka calls these methods ask for.
struct ConsumerAssignment {
    /// The limits flow control keeps the consumer's buffer within.
    struct Limits: Equatable {
        var maxMessages: Int
        var maxBytes: Int

        /// Pause fetching: either limit is reached.
        func isFull(messages: Int, bytes: Int) -> Bool {
            messages >= maxMessages || bytes >= maxBytes
        }

        /// Resume fetching: both are down to half, so pause/resume does not flap.
        func hasDrained(messages: Int, bytes: Int) -> Bool {
            messages <= maxMessages / 2 && bytes <= maxBytes / 2
        }
    }

    /// A pause or resume flow control asks for.
    struct FlowChange: Equatable {
        var pause: Bool
        var partitions: [KafkaTopicPartition]
    }

    /// Partitions assigned to this member (until their revoke completes).
    private(set) var assigned: Set<KafkaTopicPartition> = []
    /// Paused by the application: stays paused across flow control.
    private(set) var pausedByApplication: Set<KafkaTopicPartition> = []
    /// Paused because the buffer is full.
    private(set) var flowPaused = false
    /// Where to start partitions when they are assigned (instead of the committed offset).
    var initialOffsets: [KafkaTopicPartition: Int64] = [:]
    /// Subscribed to topics (a group member), and whether an assignment (even an empty one)
    /// was ever received: see `KafkaConsumer.mayDestroyHandle`.
    var subscribed = false
    private(set) var everAssigned = false
    /// The epoch of each partition assigned *now* (removed as soon as a revoke begins).
    private var currentEpochs: [KafkaTopicPartition: UInt64] = [:]
    /// How many times each partition has been assigned to this member (never reset).
    private var assignmentCounts: [KafkaTopicPartition: UInt64] = [:]

    /// The partitions not being fetched now.
    var pausedPartitions: Set<KafkaTopicPartition> {
        flowPaused ? assigned : pausedByApplication
    }

    // MARK: rebalances and epochs

    /// Partitions were assigned: each one's epoch moves to a new value (1 on the first
    /// assignment). Returns the partitions that must be paused at once (flow control on, or
    /// paused by the application before).
    mutating func assign(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition] {
        everAssigned = true
        for partition in partitions {
            let key = partition.withoutOffset
            let epoch = (assignmentCounts[key] ?? 0) &+ 1
            assignmentCounts[key] = epoch
            currentEpochs[key] = epoch
            assigned.insert(key)
        }
        let keys = partitions.map(\.withoutOffset)
        return flowPaused ? keys : keys.filter { pausedByApplication.contains($0) }
    }

    /// A revoke (or loss) begins: the partitions stop being current at once, so messages of
    /// them already handed out can be recognised as stale (`isCurrent` is false).
    mutating func beginRevoke(_ partitions: [KafkaTopicPartition]) {
        for partition in partitions { currentEpochs[partition.withoutOffset] = nil }
    }

    /// The revoke completed: the partitions are no longer this member's.
    mutating func finishRevoke(_ partitions: [KafkaTopicPartition]) {
        let keys = partitions.map(\.withoutOffset)
        assigned.subtract(keys)
        pausedByApplication.subtract(keys)
    }

    /// Everything is gone (failed rebalance, or the consumer closed).
    mutating func revokeAll() {
        currentEpochs = [:]
        assigned = []
        pausedByApplication = []
    }

    /// The epoch of `partition`'s current assignment; `nil` when it is not assigned now.
    func epoch(of partition: KafkaTopicPartition) -> UInt64? {
        currentEpochs[partition.withoutOffset]
    }

    /// True while `epoch` is `partition`'s latest assignment and it is not released yet.
    func holdsLatest(_ partition: KafkaTopicPartition, epoch: UInt64) -> Bool {
        let key = partition.withoutOffset
        return assigned.contains(key) && assignmentCounts[key] == epoch
    }

    /// True when `message` was fetched under the partition's current assignment.
    func isCurrent(_ message: KafkaConsumerMessage) -> Bool {
        currentEpochs[message.topicPartition] == message.assignmentEpoch
    }

    // MARK: pauses

    /// The application pauses `partitions`; returns those to pause in librdkafka now (none
    /// while flow control has paused everything: they stay paused when it resumes).
    mutating func pauseByApplication(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition] {
        let keys = Set(partitions.map(\.withoutOffset))
        pausedByApplication.formUnion(keys)
        return flowPaused ? [] : Array(keys)
    }

    /// The application resumes `partitions`; returns those to resume in librdkafka now.
    mutating func resumeByApplication(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition] {
        let keys = Set(partitions.map(\.withoutOffset))
        pausedByApplication.subtract(keys)
        return flowPaused ? [] : Array(keys)
    }

    /// Flow control: pause every assigned partition when the buffer is full, resume (all but
    /// the application's paused ones) once it has drained to half.
    mutating func flowControl(messages: Int, bytes: Int, limits: Limits) -> FlowChange? {
        if !flowPaused && limits.isFull(messages: messages, bytes: bytes) {
            flowPaused = true
            return FlowChange(pause: true, partitions: assigned.sorted(by: Self.order))
        }
        if flowPaused && limits.hasDrained(messages: messages, bytes: bytes) {
            flowPaused = false
            return FlowChange(pause: false, partitions: assigned.subtracting(pausedByApplication).sorted(by: Self.order))
        }
        return nil
    }

    static func order(_ a: KafkaTopicPartition, _ b: KafkaTopicPartition) -> Bool {
        (a.topic, a.partition) < (b.topic, b.partition)
    }
}
