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
/// offsets). Offsets are never stored automatically.
///
/// Memory is bounded: when `maxBufferedMessages` are waiting, fetching is paused on every
/// assigned partition until the buffer drains to half (flow control, independent of the
/// application's own `pause`).
public final class KafkaConsumer: Sendable {
    /// Messages in partition order. Iterate from one task.
    public let messages: KafkaConsumerMessages
    /// Rebalances and errors. Once the application starts iterating this sequence, each
    /// revoke waits (up to `revokeTimeout`) for the application's acknowledgement.
    public let events: KafkaConsumerEvents

    private let configuration: KafkaConsumerConfiguration
    private let client: RdKafkaClient
    private let buffer: KafkaMessageBuffer
    private let eventContinuation: AsyncStream<KafkaConsumerEvent>.Continuation
    private let logger: Logger
    private let state: Mutex<State>
    private let shutdown = PollThreadShutdown()
    private let cooperative: Bool

    private struct State: ~Copyable {
        var assigned: Set<KafkaTopicPartition> = []
        /// Where to start partitions when they are assigned (instead of the committed offset).
        var initialOffsets: [KafkaTopicPartition: Int64] = [:]
        /// Paused by the application: stays paused across flow control.
        var pausedByApplication: Set<KafkaTopicPartition> = []
        /// Paused because the buffer is full.
        var flowPaused = false
    }

    /// Creates the consumer and starts its poll thread. Nothing is consumed before `subscribe`.
    public init(configuration: KafkaConsumerConfiguration, logger: Logger = Logger(label: "duoguard.kafka")) throws(KafkaError) {
        guard configuration.maxBufferedMessages > 0 else {
            throw .configuration("maxBufferedMessages must be positive")
        }
        self.configuration = configuration
        self.logger = logger
        let buffer = KafkaMessageBuffer()
        self.buffer = buffer
        self.messages = KafkaConsumerMessages(buffer: buffer)
        let (stream, continuation) = AsyncStream<KafkaConsumerEvent>.makeStream()
        self.eventContinuation = continuation
        let listening = KafkaConsumerEvents.Listening()
        self.events = KafkaConsumerEvents(stream: stream, listening: listening)
        self.state = Mutex(State())

        let callbacks = RdKafkaCallbacks(logger: logger)
        self.client = try RdKafkaClient(
            kind: .consumer, properties: configuration.librdkafkaProperties, callbacks: callbacks)
        self.cooperative = configuration.assignmentStrategy == .cooperativeSticky
        // Serve the main queue (logs, errors, rebalances) from consumer_poll, on the poll thread.
        rd_kafka_poll_set_consumer(client.handle)

        logger.debug("Kafka consumer created", metadata: ["config": "\(KafkaConfiguration.redacted(configuration.librdkafkaProperties))"])

        // Callbacks capture the consumer weakly-by-value: they only run while the handle lives,
        // and the handle is destroyed by the poll thread before the consumer can go away.
        callbacks.onError = { [continuation] error in
            continuation.yield(.error(error))
        }
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
        state.withLock { $0.initialOffsets = Dictionary(uniqueKeysWithValues: initialOffsets.map { ($0.key.withoutOffset, $0.value) }) }
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
        }
        let code = rd_kafka_subscribe(client.handle, list)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: code, context: "subscribe to \(topics)")
        }
    }

    /// The partitions currently assigned to this member.
    public var assignment: [KafkaTopicPartition] {
        state.withLock { Array($0.assigned) }.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }

    /// Partitions not being fetched now (paused by the application or by flow control).
    public var pausedPartitions: [KafkaTopicPartition] {
        state.withLock { state in
            state.flowPaused ? Array(state.assigned) : Array(state.pausedByApplication)
        }
    }

    /// Messages fetched and waiting for the application.
    public var bufferedMessageCount: Int { buffer.count }

    /// Up to `max` messages already waiting, without suspending (for micro-batching).
    public func takeAvailable(max: Int) -> [KafkaConsumerMessage] {
        buffer.takeAvailable(max: max)
    }

    // MARK: offsets

    /// Marks `message` as done: its partition's committed position may advance past it.
    public func storeOffset(_ message: KafkaConsumerMessage) throws(KafkaError) {
        try storeOffsets([KafkaTopicPartition(topic: message.topic, partition: message.partition, offset: message.offset + 1)])
    }

    /// Stores explicit positions ("next offset to read") for the next commit.
    public func storeOffsets(_ positions: [KafkaTopicPartition]) throws(KafkaError) {
        guard !positions.isEmpty else { return }
        let list = RdKafkaClient.makeList(positions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let code = rd_kafka_offsets_store(client.handle, list)
        if let error = RdKafkaClient.firstError(list, context: "store offset") { throw error }
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: code, context: "store offsets")
        }
    }

    /// Commits the stored offsets and waits for the broker. Nothing stored: no-op.
    public func commit() async throws(KafkaError) {
        try await client.blocking { [client] () throws(KafkaError) in
            let code = rd_kafka_commit(client.handle, nil, 0)
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR || code == RD_KAFKA_RESP_ERR__NO_OFFSET else {
                throw KafkaError(code: code, context: "commit")
            }
        }
    }

    /// Commits explicit positions ("next offset to read") and waits for the broker.
    public func commit(_ positions: [KafkaTopicPartition]) async throws(KafkaError) {
        guard !positions.isEmpty else { return }
        try await client.blocking { [client] () throws(KafkaError) in
            let list = RdKafkaClient.makeList(positions)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let code = rd_kafka_commit(client.handle, list, 0)
            if let error = RdKafkaClient.firstError(list, context: "commit") { throw error }
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: code, context: "commit")
            }
        }
    }

    /// The group's committed positions for `partitions` (offset `nil`: nothing committed).
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError) -> [KafkaTopicPartition] {
        try await client.blocking { [client] () throws(KafkaError) in
            let list = RdKafkaClient.makeList(partitions.map(\.withoutOffset))
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let code = rd_kafka_committed(client.handle, list, Int32(clamping: timeout.milliseconds))
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: code, context: "committed offsets")
            }
            if let error = RdKafkaClient.firstError(list, context: "committed offset") { throw error }
            return RdKafkaClient.partitions(list)
        }
    }

    /// This member's fetch positions ("next offset the application will see").
    public func positions(_ partitions: [KafkaTopicPartition]) throws(KafkaError) -> [KafkaTopicPartition] {
        let list = RdKafkaClient.makeList(partitions.map(\.withoutOffset))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let code = rd_kafka_position(client.handle, list)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: code, context: "positions")
        }
        return RdKafkaClient.partitions(list)
    }

    /// Low and high watermarks, asked of the broker (for lag: `high - committed`).
    public func watermarks(topic: String, partition: Int32, timeout: Duration = .seconds(10)) async throws(KafkaError) -> KafkaWatermarks {
        try await client.blocking { [client] () throws(KafkaError) in
            var low: Int64 = 0
            var high: Int64 = 0
            let code = rd_kafka_query_watermark_offsets(
                client.handle, topic, partition, &low, &high, Int32(clamping: timeout.milliseconds))
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: code, context: "watermarks of \(topic)[\(partition)]")
            }
            return KafkaWatermarks(low: low, high: high)
        }
    }

    /// For each partition whose `offset` holds a timestamp (ms since epoch), the earliest
    /// offset whose timestamp is at or after it (`nil`: no such message, i.e. the end).
    public func offsets(forTimes partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError) -> [KafkaTopicPartition] {
        try await client.blocking { [client] () throws(KafkaError) in
            let list = RdKafkaClient.makeList(partitions)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let code = rd_kafka_offsets_for_times(client.handle, list, Int32(clamping: timeout.milliseconds))
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: code, context: "offsets for times")
            }
            if let error = RdKafkaClient.firstError(list, context: "offset for time") { throw error }
            return RdKafkaClient.partitions(list)
        }
    }

    // MARK: flow

    /// Stops fetching from `partitions` until `resume`; already buffered messages still arrive.
    public func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let keys = Set(partitions.map(\.withoutOffset))
        let flowPaused = state.withLock { state in
            state.pausedByApplication.formUnion(keys)
            return state.flowPaused
        }
        if !flowPaused { try setPaused(Array(keys), paused: true) }
    }

    /// Resumes fetching from partitions paused with `pause`.
    public func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let keys = Set(partitions.map(\.withoutOffset))
        let flowPaused = state.withLock { state in
            state.pausedByApplication.subtract(keys)
            return state.flowPaused
        }
        if !flowPaused { try setPaused(Array(keys), paused: false) }
    }

    /// Moves the fetch position of assigned partitions to each one's `offset`, dropping
    /// buffered messages of them.
    public func seek(_ positions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError) {
        buffer.removeAll(of: Set(positions.map(\.withoutOffset)))
        try await client.blocking { [client] () throws(KafkaError) in
            let list = RdKafkaClient.makeList(positions)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            if let error = rd_kafka_seek_partitions(client.handle, list, Int32(clamping: timeout.milliseconds)) {
                throw KafkaError(consuming: error, context: "seek")
            }
            if let error = RdKafkaClient.firstError(list, context: "seek") { throw error }
        }
    }

    /// Topics and partition counts known to the cluster; fails within `timeout` when no
    /// broker answers (use it to fail fast at start-up).
    public func topics(timeout: Duration? = nil) async throws(KafkaError) -> [String: Int] {
        let limit = timeout ?? configuration.client.connectTimeout
        return try await client.blocking { [client] () throws(KafkaError) in
            try client.topics(timeout: limit)
        }
    }

    // MARK: closing

    /// Leaves the group (revoking the assignment, which the application gets as an event and
    /// should acknowledge after its final commit), stops the poll thread and frees the client.
    /// With auto-commit enabled, stored offsets are committed on the way out.
    public func close() async {
        await shutdown.requestStopAndWait()
    }

    // MARK: poll thread

    private func pollLoop() {
        let timeout = Int32(clamping: configuration.pollTimeout.milliseconds)
        var batch: [KafkaConsumerMessage] = []
        while !shutdown.isStopRequested {
            // Wait for one message, then gather what arrives within the next 2 ms, and hand the
            // lot over at once: waking the reader costs far more than a message (tens of µs),
            // so one wake-up per batch instead of per message multiplies consume throughput.
            var wait = timeout
            var gatherUntil = ContinuousClock.now
            while batch.count < 512, let message = rd_kafka_consumer_poll(client.handle, wait) {
                if let converted = convert(message) { batch.append(converted) }
                rd_kafka_message_destroy(message)
                if wait == timeout { gatherUntil = ContinuousClock.now + .milliseconds(2) }
                wait = ContinuousClock.now < gatherUntil ? 1 : 0
            }
            if !batch.isEmpty {
                buffer.append(contentsOf: batch)
                batch.removeAll(keepingCapacity: true)
            }
            applyFlowControl()
        }
        // Leave the group: this calls the rebalance callback (revoke) on this thread.
        let code = rd_kafka_consumer_close(client.handle)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("Kafka consumer close: \(KafkaError(code: code, context: "close"))")
        }
        client.destroy()
        buffer.finish()
        eventContinuation.finish()
        state.withLock { $0.assigned = [] }
        shutdown.markClosed()
    }

    /// Copies a fetched message out of librdkafka; errors become events and yield `nil`.
    private func convert(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaConsumerMessage? {
        let m = message.pointee
        if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return nil }
            let detail = m.payload.map {
                String(decoding: UnsafeRawBufferPointer(start: $0, count: m.len), as: UTF8.self)
            }
            eventContinuation.yield(.error(KafkaError(code: m.err, context: "consume", detail: detail)))
            return nil
        }
        let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) }
        let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return KafkaConsumerMessage(
            topic: topic, partition: m.partition, offset: m.offset, key: key, value: value,
            headers: Self.headers(of: message),
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp)
    }

    private static func headers(of message: UnsafeMutablePointer<rd_kafka_message_t>) -> [KafkaHeader] {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else {
            return []
        }
        var result: [KafkaHeader] = []
        var index = 0
        while true {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR,
                let name
            else { break }
            let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
            result.append(KafkaHeader(key: String(cString: name), value: bytes))
            index += 1
        }
        return result
    }

    /// Pauses every assigned partition while the buffer is full; resumes at half.
    private func applyFlowControl() {
        let count = buffer.count
        let limit = configuration.maxBufferedMessages
        let change: (pause: Bool, partitions: [KafkaTopicPartition])? = state.withLock { state in
            if !state.flowPaused && count >= limit {
                state.flowPaused = true
                return (true, Array(state.assigned))
            }
            if state.flowPaused && count <= limit / 2 {
                state.flowPaused = false
                return (false, Array(state.assigned.subtracting(state.pausedByApplication)))
            }
            return nil
        }
        guard let change, !change.partitions.isEmpty else { return }
        do {
            try setPaused(change.partitions, paused: change.pause)
        } catch {
            logger.warning("flow control \(change.pause ? "pause" : "resume") failed: \(error)")
        }
    }

    private func setPaused(_ partitions: [KafkaTopicPartition], paused: Bool) throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        let list = RdKafkaClient.makeList(partitions.map(\.withoutOffset))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let code = paused
            ? rd_kafka_pause_partitions(client.handle, list)
            : rd_kafka_resume_partitions(client.handle, list)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: code, context: paused ? "pause" : "resume")
        }
    }

    /// Runs on the poll thread, inside `rd_kafka_consumer_poll` or `rd_kafka_consumer_close`.
    private func rebalance(rk: OpaquePointer, code: rd_kafka_resp_err_t, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let items = RdKafkaClient.partitions(partitions).map(\.withoutOffset)
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        switch code {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            let starts = state.withLock { $0.initialOffsets }
            if !starts.isEmpty {
                for index in 0..<Int(partitions.pointee.cnt) {
                    let element = partitions.pointee.elems[index]
                    let key = KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)
                    if let offset = starts[key] { partitions.pointee.elems[index].offset = offset }
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, partitions) {
                    eventContinuation.yield(.error(KafkaError(consuming: error, context: "incremental assign")))
                }
            } else {
                let result = rd_kafka_assign(rk, partitions)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                    eventContinuation.yield(.error(KafkaError(code: result, context: "assign")))
                }
            }
            let flowPaused = state.withLock { state in
                state.assigned.formUnion(items)
                return state.flowPaused
            }
            let alsoPaused = state.withLock { $0.pausedByApplication.intersection(items) }
            if flowPaused {
                try? setPaused(items, paused: true)
            } else if !alsoPaused.isEmpty {
                try? setPaused(Array(alsoPaused), paused: true)
            }
            logger.info("partitions assigned", metadata: ["partitions": "\(items.map(\.description))"])
            eventContinuation.yield(.partitionsAssigned(items))

        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let dropped = buffer.removeAll(of: Set(items))
            let lost = rd_kafka_assignment_lost(rk) != 0
            logger.info(
                "partitions \(lost ? "lost" : "revoked")",
                metadata: ["partitions": "\(items.map(\.description))", "droppedBuffered": "\(dropped)"])
            if lost {
                eventContinuation.yield(.partitionsLost(items))
            } else {
                let acknowledgement = RevokeAcknowledgement()
                eventContinuation.yield(.partitionsRevoked(items, acknowledgement))
                if events.listening.isListening,
                    !acknowledgement.wait(timeout: configuration.revokeTimeout)
                {
                    logger.warning("revoke not acknowledged within \(configuration.revokeTimeout); releasing partitions")
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, partitions) {
                    eventContinuation.yield(.error(KafkaError(consuming: error, context: "incremental unassign")))
                }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
            state.withLock { state in
                state.assigned.subtract(items)
                state.pausedByApplication.subtract(items)
            }

        default:
            let error = KafkaError(code: code, context: "rebalance")
            logger.error("rebalance failed: \(error)")
            eventContinuation.yield(.error(error))
            _ = rd_kafka_assign(rk, nil)
            state.withLock { $0.assigned = [] }
        }
    }

}

/// The events of a `KafkaConsumer`. Iterating them tells the consumer that the application
/// handles revokes, so revokes wait for its acknowledgement.
public struct KafkaConsumerEvents: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerEvent
    let stream: AsyncStream<KafkaConsumerEvent>
    let listening: Listening

    final class Listening: Sendable {
        private let flag = Atomic<Bool>(false)
        var isListening: Bool { flag.load(ordering: .acquiring) }
        func set() { flag.store(true, ordering: .releasing) }
    }

    public func makeAsyncIterator() -> AsyncStream<KafkaConsumerEvent>.AsyncIterator {
        listening.set()
        return stream.makeAsyncIterator()
    }
}
