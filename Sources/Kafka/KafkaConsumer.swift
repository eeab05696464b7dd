import CRdKafka
import Dispatch
import Foundation
import Logging
import Synchronization

/// A Kafka consumer in a consumer group, over librdkafka.
///
/// A dedicated poll thread calls `rd_kafka_consumer_poll` continuously, whatever the
/// application is doing, so a slow batch never makes this member miss `max.poll.interval.ms`
/// and leave the group. Messages go to `messages`; rebalances and errors to `events`.
///
/// At-least-once is the application's to build with two calls: `storeOffset(_:)` once a
/// message's result is safe, and `commit()` (or the periodic auto-commit of *stored*
/// offsets). Offsets are never stored automatically. Each message carries the
/// `assignmentEpoch` it was fetched under; compare it with `assignmentEpoch(of:)` to refuse
/// messages of an assignment that has since been revoked.
///
/// Memory is bounded: when `maxBufferedMessages` or `maxBufferedBytes` are waiting, fetching
/// is paused on every assigned partition until the buffer drains to half (flow control,
/// independent of the application's own `pause`); librdkafka's prefetch is bounded by
/// `maxPrefetchKilobytes` and `maxMessageBytes` (see docs/kafka.md for the formula).
///
/// Lifetime: no call outlives the librdkafka handle. Once `close()` has begun, calls throw
/// `KafkaError.closed`, except `storeOffset(s)`, `commit` and `committed`, which a revoke
/// handler needs and which run until the handle is destroyed; the handle is destroyed only
/// after every call in flight has returned (each is bounded by its timeout).
public final class KafkaConsumer: Sendable {
    /// Messages in partition order. Iterate from one task.
    public let messages: KafkaConsumerMessages
    /// Rebalances and errors. Once the application starts iterating this sequence, each
    /// revoke waits (up to `revokeTimeout`) for the application's acknowledgement.
    public let events: KafkaConsumerEvents

    let configuration: KafkaConsumerConfiguration
    let client: RdKafkaClient
    let buffer: KafkaMessageBuffer
    let eventContinuation: AsyncStream<KafkaConsumerEvent>.Continuation
    let logger: Logger
    /// Assignment, epochs and pauses; librdkafka pause/resume calls are made while holding
    /// it, so they reach librdkafka in the order the state changed.
    let assignmentState = Mutex(ConsumerAssignment())
    private let limits: ConsumerAssignment.Limits
    private let shutdown = PollThreadShutdown()
    private let fatal = FatalErrorLatch()

    /// Messages handed to the buffer at once (one reader wake-up per batch).
    private static let maxBatch = 512

    /// Creates the consumer and starts its poll thread. Nothing is consumed before `subscribe`.
    public init(configuration: KafkaConsumerConfiguration, logger: Logger = Logger(label: "duoguard.kafka")) throws(KafkaError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.limits = ConsumerAssignment.Limits(
            maxMessages: configuration.maxBufferedMessages, maxBytes: configuration.maxBufferedBytes)
        let buffer = KafkaMessageBuffer()
        self.buffer = buffer
        self.messages = KafkaConsumerMessages(buffer: buffer)
        let (stream, continuation) = AsyncStream<KafkaConsumerEvent>.makeStream()
        self.eventContinuation = continuation
        self.events = KafkaConsumerEvents(stream: stream, listening: KafkaConsumerEvents.Listening())

        let callbacks = RdKafkaCallbacks(logger: logger)
        callbacks.onError = { [continuation, fatal, logger] error in
            if error.isFatal, fatal.record(error) {
                logger.error("Kafka consumer fatal error: \(error)")
            }
            continuation.yield(.error(error))
        }
        self.client = try RdKafkaClient(
            kind: .consumer, properties: configuration.librdkafkaProperties, callbacks: callbacks)
        // Serve the main queue (logs, errors, rebalances) from consumer_poll, on the poll thread.
        rd_kafka_poll_set_consumer(client.pollThreadHandle)

        logger.debug("Kafka consumer created", metadata: ["config": "\(KafkaConfiguration.redacted(configuration.librdkafkaProperties))"])

        // Rebalances run on the poll thread, inside consumer_poll or consumer_close, i.e. only
        // while the handle lives; the poll thread holds the consumer strongly until it has
        // destroyed the handle, so `unowned` cannot dangle.
        callbacks.onRebalance = { [unowned self] rk, code, partitions in
            self.rebalance(rk: rk, code: code, partitions: partitions)
        }

        let thread = Thread { [self] in
            self.pollLoop()
        }
        thread.name = "kafka-consumer-poll"
        thread.start()
    }

    deinit {
        eventContinuation.finish()
    }

    // MARK: subscription

    /// Joins the group and subscribes to topics; a name starting with `^` is a regex.
    /// `initialOffsets`: partitions that start at a given offset whenever they are assigned,
    /// instead of at the group's committed offset (a replay's range start).
    public func subscribe(topics: [String], initialOffsets: [KafkaTopicPartition: Int64] = [:]) throws(KafkaError) {
        guard !topics.isEmpty else { throw .configuration("subscribe needs at least one topic") }
        let starts = Dictionary(initialOffsets.map { ($0.key.withoutOffset, $0.value) }, uniquingKeysWith: { _, last in last })
        try client.withHandle { handle throws(KafkaError) in
            assignmentState.withLock {
                $0.initialOffsets = starts
                $0.subscribed = true
            }
            let code = RdKafkaTopicPartitionList(topics: topics).withPointer { rd_kafka_subscribe(handle, $0) }
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: code, context: "subscribe to \(topics)")
            }
        }
    }

    /// The partitions currently assigned to this member.
    public var assignment: [KafkaTopicPartition] {
        assignmentState.withLock { Array($0.assigned) }.sorted(by: ConsumerAssignment.order)
    }

    /// The epoch of `partition`'s current assignment to this member (see
    /// `KafkaConsumerMessage.assignmentEpoch`), or `nil` when it is not assigned now,
    /// including from the moment its revoke begins.
    public func assignmentEpoch(of partition: KafkaTopicPartition) -> UInt64? {
        assignmentState.withLock { $0.epoch(of: partition) }
    }

    /// True while `epoch` is the latest assignment of `partition` to this member and the
    /// partition is still this member's (also while its revoke is in progress, until it is
    /// released). A position reached under an older assignment must not be stored once a newer
    /// one began: it would move the newer assignment's position (back, or past what it read).
    public func holdsLatestAssignment(_ partition: KafkaTopicPartition, epoch: UInt64) -> Bool {
        assignmentState.withLock { $0.holdsLatest(partition, epoch: epoch) }
    }

    /// Partitions not being fetched now (paused by the application or by flow control).
    public var pausedPartitions: [KafkaTopicPartition] {
        assignmentState.withLock { Array($0.pausedPartitions) }.sorted(by: ConsumerAssignment.order)
    }

    /// Messages fetched and waiting for the application.
    public var bufferedMessageCount: Int { buffer.count }

    /// Bytes of the messages waiting for the application (as `maxBufferedBytes` counts them).
    public var bufferedByteCount: Int { buffer.bytes }

    /// Calls `handler` each time the application's reader passes the end of a partition: the
    /// last consumable offset below the high watermark, with control records (transaction
    /// markers) skipped, as librdkafka's partition-EOF event (`enable.partition.eof`) says.
    /// `offset` is the partition's next offset then. Called in order with the messages (every
    /// message of the partition before it has been handed out), on the reading task. A topic
    /// written by transactional producers ends with a commit marker that is never delivered,
    /// so "the message at high watermark - 1 arrived" never happens there; this does. Install
    /// it before `subscribe`.
    public func onPartitionEnd(_ handler: @escaping @Sendable (KafkaTopicPartition, Int64) -> Void) {
        buffer.setPartitionEndHandler(handler)
    }

    /// Up to `max` messages already waiting, without suspending (for micro-batching).
    public func takeAvailable(max: Int) -> [KafkaConsumerMessage] {
        buffer.takeAvailable(max: max)
    }

    /// The fatal error librdkafka raised on this consumer, if any (set once; it also arrived
    /// as an `.error` event with `isFatal`).
    public var fatalError: KafkaError? { fatal.error }

    /// Waits until the consumer has a fatal error and returns it; `nil` when it closes
    /// without one, or when the calling task is cancelled.
    public func waitForFatalError() async -> KafkaError? {
        await fatal.wait()
    }

    // MARK: offsets

    /// Marks `message` as done: its partition's committed position may advance past it.
    public func storeOffset(_ message: KafkaConsumerMessage) throws(KafkaError) {
        try storeOffsets([KafkaTopicPartition(topic: message.topic, partition: message.partition, offset: message.offset + 1)])
    }

    /// Stores explicit positions ("next offset to read") for the next commit. Allowed while
    /// closing (a revoke handler stores its last results).
    public func storeOffsets(_ positions: [KafkaTopicPartition]) throws(KafkaError) {
        guard !positions.isEmpty else { return }
        try client.withHandle(.untilDestroyed) { handle throws(KafkaError) in
            let list = RdKafkaTopicPartitionList(positions)
            let code = list.withPointer { rd_kafka_offsets_store(handle, $0) }
            if let error = list.firstError(context: "store offset") { throw error }
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: code, context: "store offsets")
            }
        }
    }

    /// Commits the stored offsets and waits for the broker, up to `timeout`. Nothing stored:
    /// no-op. Allowed while closing.
    public func commit(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await client.blocking(.untilDestroyed) { handle throws(KafkaError) in
            try Self.commit(handle, nil, timeout: timeout)
        }
    }

    /// Commits explicit positions ("next offset to read") and waits for the broker, up to
    /// `timeout`. Allowed while closing.
    public func commit(_ positions: [KafkaTopicPartition], timeout: Duration = .seconds(30)) async throws(KafkaError) {
        guard !positions.isEmpty else { return }
        try await client.blocking(.untilDestroyed) { handle throws(KafkaError) in
            try Self.commit(handle, RdKafkaTopicPartitionList(positions), timeout: timeout)
        }
    }

    /// The group's committed positions for `partitions` (offset `nil`: nothing committed).
    /// Allowed while closing.
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError) -> [KafkaTopicPartition] {
        try await client.blocking(.untilDestroyed) { handle throws(KafkaError) in
            let list = RdKafkaTopicPartitionList(partitions.map(\.withoutOffset))
            let code = list.withPointer { rd_kafka_committed(handle, $0, Int32(clamping: timeout.milliseconds)) }
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: code, context: "committed offsets")
            }
            if let error = list.firstError(context: "committed offset") { throw error }
            return list.partitions
        }
    }

    /// This member's fetch positions ("next offset the application will see").
    public func positions(_ partitions: [KafkaTopicPartition]) throws(KafkaError) -> [KafkaTopicPartition] {
        try client.withHandle { handle throws(KafkaError) in
            let list = RdKafkaTopicPartitionList(partitions.map(\.withoutOffset))
            let code = list.withPointer { rd_kafka_position(handle, $0) }
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: code, context: "positions")
            }
            return list.partitions
        }
    }

    /// Low and high watermarks, asked of the broker (for lag: `high - committed`).
    public func watermarks(topic: String, partition: Int32, timeout: Duration = .seconds(10)) async throws(KafkaError) -> KafkaWatermarks {
        try await client.blocking { handle throws(KafkaError) in
            var low: Int64 = 0
            var high: Int64 = 0
            let code = rd_kafka_query_watermark_offsets(
                handle, topic, partition, &low, &high, Int32(clamping: timeout.milliseconds))
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: code, context: "watermarks of \(topic)[\(partition)]")
            }
            return KafkaWatermarks(low: low, high: high)
        }
    }

    /// For each partition whose `offset` holds a timestamp (ms since epoch), the earliest
    /// offset whose timestamp is at or after it (`nil`: no such message, i.e. the end).
    public func offsets(forTimes partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError) -> [KafkaTopicPartition] {
        try await client.blocking { handle throws(KafkaError) in
            let list = RdKafkaTopicPartitionList(partitions)
            let code = list.withPointer { rd_kafka_offsets_for_times(handle, $0, Int32(clamping: timeout.milliseconds)) }
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: code, context: "offsets for times")
            }
            if let error = list.firstError(context: "offset for time") { throw error }
            return list.partitions
        }
    }

    // MARK: flow

    /// Stops fetching from `partitions` until `resume`; already buffered messages still arrive.
    public func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try client.withHandle { handle throws(KafkaError) in
            try assignmentState.withLock { state throws(KafkaError) in
                try Self.setPaused(handle, state.pauseByApplication(partitions), paused: true)
            }
        }
    }

    /// Resumes fetching from partitions paused with `pause`.
    public func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try client.withHandle { handle throws(KafkaError) in
            try assignmentState.withLock { state throws(KafkaError) in
                try Self.setPaused(handle, state.resumeByApplication(partitions), paused: false)
            }
        }
    }

    /// Moves the fetch position of assigned partitions to each one's `offset`, dropping
    /// buffered messages of them.
    public func seek(_ positions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError) {
        if client.lifetime.phase != .open { throw KafkaError.closed }
        buffer.removeAll(of: Set(positions.map(\.withoutOffset)))
        try await client.blocking { handle throws(KafkaError) in
            let list = RdKafkaTopicPartitionList(positions)
            if let error = list.withPointer({ rd_kafka_seek_partitions(handle, $0, Int32(clamping: timeout.milliseconds)) }) {
                throw KafkaError(consuming: error, context: "seek")
            }
            if let error = list.firstError(context: "seek") { throw error }
        }
    }

    /// Topics and partition counts known to the cluster; fails within `timeout` when no
    /// broker answers (use it to fail fast at start-up).
    public func topics(timeout: Duration? = nil) async throws(KafkaError) -> [String: Int] {
        try await client.topics(timeout: timeout ?? configuration.client.connectTimeout)
    }

    // MARK: closing

    /// Leaves the group (revoking the assignment, which the application gets as an event and
    /// should acknowledge after its final commit), stops the poll thread and frees the client.
    /// With auto-commit enabled, stored offsets are committed on the way out. From the moment
    /// it is called, calls other than `storeOffset(s)`/`commit`/`committed` throw
    /// `KafkaError.closed`; it returns once calls in flight have returned and the handle is
    /// destroyed, or after `closeTimeout` at the latest (then logged; the handle is left to
    /// the poll thread, which nothing else can reach). Calling it again waits for the first
    /// close.
    public func close() async {
        client.lifetime.beginClosing()
        if await !shutdown.requestStopAndWait(atMost: configuration.closeTimeout) {
            logger.error("Kafka consumer not closed within \(configuration.closeTimeout); leaving its handle to the poll thread")
        }
    }

    /// Makes librdkafka raise a fatal error on this consumer through its real fatal-error
    /// path, for tests.
    func raiseFatalErrorForTesting(code: Int32, reason: String) throws(KafkaError) {
        try client.raiseFatalErrorForTesting(code: code, reason: reason)
    }

    // MARK: poll thread

    private func pollLoop() {
        let handle = client.pollThreadHandle
        let timeout = Int32(clamping: configuration.pollTimeout.milliseconds)
        var batch: [KafkaConsumerMessage] = []
        var batchBytes = 0
        // The epoch a message fetched now belongs to (0: not assigned, which librdkafka does
        // not deliver).
        let stamp: (KafkaTopicPartition) -> UInt64 = { partition in
            self.assignmentState.withLock { $0.epoch(of: partition) ?? 0 }
        }
        while !shutdown.isStopRequested {
            // Wait for one message, then gather what arrives within the next 2 ms, and hand the
            // lot over at once: waking the reader costs far more than a message (tens of µs),
            // so one wake-up per batch instead of per message multiplies consume throughput.
            // Gathering stops as soon as buffer + batch reach a flow-control limit, so the
            // buffer overshoots its byte limit by at most one message.
            var wait = timeout
            var gatherUntil = ContinuousClock.now
            let buffered = buffer.size
            while batch.count < Self.maxBatch,
                batch.isEmpty
                    || !limits.isFull(messages: buffered.messages + batch.count, bytes: buffered.bytes + batchBytes),
                let message = rd_kafka_consumer_poll(handle, wait)
            {
                switch RdKafkaMessage.copy(message, handle: handle, epoch: stamp) {
                case .message(let converted):
                    batch.append(converted)
                    batchBytes += converted.bufferedSize
                case .endOfPartition(let marker):
                    // In order with the records, so it is seen after all of them.
                    batch.append(marker)
                case .error(let error):
                    // The same handling as librdkafka's error callback: latch, log, deliver.
                    client.callbacks.onError?(error)
                case .nothing:
                    break
                }
                rd_kafka_message_destroy(message)
                if wait == timeout { gatherUntil = ContinuousClock.now + .milliseconds(2) }
                wait = ContinuousClock.now < gatherUntil ? 1 : 0
            }
            if !batch.isEmpty {
                // A rebalance inside consumer_poll may have revoked (or re-assigned) partitions
                // of messages gathered before it: those belong to a finished assignment.
                let current = assignmentState.withLock { state in batch.filter { state.isCurrent($0) } }
                buffer.append(contentsOf: current)
                batch.removeAll(keepingCapacity: true)
                batchBytes = 0
            }
            applyFlowControl(handle)
        }
        // Leave the group: this calls the rebalance callback (revoke) on this thread.
        let code = rd_kafka_consumer_close(handle)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("Kafka consumer close: \(KafkaError(code: code, context: "close"))")
        }
        // No call in flight past this point (each was bounded by its timeout).
        client.lifetime.closeAndWaitForLeases()
        assignmentState.withLock { $0.revokeAll() }
        buffer.finish()
        fatal.finish()
        eventContinuation.finish()
        if RdKafkaClient.fatalError(of: handle) != nil {
            // librdkafka 2.0.2 never returns from rd_kafka_destroy on a consumer that raised a
            // fatal error (its main thread spins waiting for the group to terminate). The
            // process must restart after a fatal error anyway: leave the handle allocated,
            // its threads idle, rather than hang or burn a core.
            logger.error("Kafka consumer had a fatal error: its librdkafka handle is not destroyed (restart the process)")
        } else if !mayDestroyHandle {
            logger.info("Kafka consumer closed before its first assignment: librdkafka handle left allocated (librdkafka < 2.3 aborts destroying it)")
        } else {
            client.destroy()
        }
        shutdown.markClosed()
    }

    /// librdkafka before 2.3.0 aborts the process (`assert(assignor_state)` in
    /// rd_kafka_sticky_assignor_state_destroy, librdkafka issue #4312, fixed in 2.3.0) when a
    /// cooperative-sticky member is destroyed after its JoinGroup completed but before any
    /// assignment arrived, e.g. on SIGTERM during a group join. Such a handle is left
    /// allocated (it has already left the group; its threads idle): a small leak once per
    /// such close, instead of a crash. Debian bookworm ships 2.0.2.
    private var mayDestroyHandle: Bool {
        guard configuration.assignmentStrategy == .cooperativeSticky, rd_kafka_version() < 0x0203_00FF else { return true }
        return assignmentState.withLock { !$0.subscribed || $0.everAssigned }
    }

    /// Pauses every assigned partition while the buffer is full; resumes at half.
    private func applyFlowControl(_ handle: OpaquePointer) {
        let size = buffer.size
        let result: Result<ConsumerAssignment.FlowChange?, KafkaError> = assignmentState.withLock { state in
            guard let change = state.flowControl(messages: size.messages, bytes: size.bytes, limits: limits) else {
                return .success(nil)
            }
            return Result { () throws(KafkaError) in
                try Self.setPaused(handle, change.partitions, paused: change.pause)
                return change
            }
        }
        if case .failure(let error) = result {
            logger.warning("flow control pause/resume failed: \(error)")
        }
    }

    static func setPaused(_ handle: OpaquePointer, _ partitions: [KafkaTopicPartition], paused: Bool) throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        let code = RdKafkaTopicPartitionList(partitions.map(\.withoutOffset)).withPointer { list in
            paused ? rd_kafka_pause_partitions(handle, list) : rd_kafka_resume_partitions(handle, list)
        }
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: code, context: paused ? "pause" : "resume")
        }
    }

    /// Commits through a queue of our own so that the wait is bounded by `timeout`
    /// (`rd_kafka_commit` waits without limit while the coordinator is unreachable).
    private static func commit(_ handle: OpaquePointer, _ list: RdKafkaTopicPartitionList?, timeout: Duration) throws(KafkaError) {
        guard let queue = rd_kafka_queue_new(handle) else {
            throw KafkaError(kind: .librdkafka, message: "commit: librdkafka could not create a queue")
        }
        // Destroying the queue before the answer arrives is safe: librdkafka then drops it.
        defer { rd_kafka_queue_destroy(queue) }
        let code = list.map { list in list.withPointer { rd_kafka_commit_queue(handle, $0, queue, nil, nil) } }
            ?? rd_kafka_commit_queue(handle, nil, queue, nil, nil)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: code, context: "commit")
        }
        guard let event = rd_kafka_queue_poll(queue, Int32(clamping: timeout.milliseconds)) else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR__TIMED_OUT, context: "commit", detail: "no answer within \(timeout)")
        }
        defer { rd_kafka_event_destroy(event) }
        let error = rd_kafka_event_error(event)
        // Nothing stored since the last commit: nothing to do.
        if error == RD_KAFKA_RESP_ERR__NO_OFFSET && list == nil { return }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) }
            throw KafkaError(code: error, context: "commit", detail: text)
        }
        if let partitions = rd_kafka_event_topic_partition_list(event),
            let failure = RdKafkaTopicPartitionList.firstError(of: partitions, context: "commit")
        {
            throw failure
        }
    }
}
