import CRdKafka
import Foundation
import XCTest

@testable import Kafka

/// The Kafka layer's rules as plain types, without a broker: error dispositions, topic
/// names, assignment epochs, flow control, handle leases, configuration limits.
final class KafkaRulesTests: XCTestCase {
    // MARK: dispositions

    func testDispositionTable() {
        let cases: [(rd_kafka_resp_err_t, KafkaError.Disposition)] = [
            // Retriable: the link, the queue, leadership, replicas.
            (RD_KAFKA_RESP_ERR__TRANSPORT, .retriable),
            (RD_KAFKA_RESP_ERR__TIMED_OUT, .retriable),
            (RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, .retriable),
            (RD_KAFKA_RESP_ERR__QUEUE_FULL, .retriable),
            (RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, .retriable),
            (RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, .retriable),
            (RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, .retriable),
            (RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, .retriable),
            (RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, .retriable),
            (RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, .retriable),
            (RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION, .retriable),
            (RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR, .retriable),
            (RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED, .retriable),
            // Permanent: what no retry can fix.
            (RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, .permanent),
            (RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, .permanent),
            (RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, .permanent),
            (RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, .permanent),
            (RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, .permanent),
            (RD_KAFKA_RESP_ERR_INVALID_RECORD, .permanent),
            (RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, .permanent),
            (RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, .permanent),
            (RD_KAFKA_RESP_ERR__INVALID_ARG, .permanent),
            (RD_KAFKA_RESP_ERR__PURGE_QUEUE, .permanent),
            (RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, .permanent),
            (RD_KAFKA_RESP_ERR__DESTROY, .permanent),
            (RD_KAFKA_RESP_ERR_UNKNOWN, .permanent),
            // Fatal.
            (RD_KAFKA_RESP_ERR__FATAL, .fatal),
        ]
        for (code, expected) in cases {
            let error = KafkaError(code: code, context: "test")
            XCTAssertEqual(error.disposition, expected, "\(error.name)")
            XCTAssertEqual(error.isRetriable, expected == .retriable, "\(error.name)")
            XCTAssertEqual(error.isFatal, expected == .fatal, "\(error.name)")
        }
    }

    func testDispositionTableHasNoCodeInBothLists() {
        XCTAssertTrue(KafkaErrorDisposition.retriable.isDisjoint(with: KafkaErrorDisposition.permanentOnPurpose))
        // Every code librdkafka 2.0.2 names is classified (unnamed codes are permanent).
        for code in Int32(-200)...Int32(100) {
            let disposition = KafkaErrorDisposition.of(code)
            if KafkaErrorDisposition.retriable.contains(code) { XCTAssertEqual(disposition, .retriable) }
            if KafkaErrorDisposition.permanentOnPurpose.contains(code) { XCTAssertEqual(disposition, .permanent) }
        }
    }

    func testFatalWinsAndPublicInitDerivesDisposition() {
        var error = KafkaError(code: RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, context: "delivery")
        XCTAssertEqual(error.disposition, .retriable)
        error.markFatal()
        XCTAssertEqual(error.disposition, .fatal)
        XCTAssertFalse(error.isRetriable)
        XCTAssertTrue(error.description.hasSuffix("(fatal)"), error.description)

        XCTAssertEqual(KafkaError(kind: .message, message: "x").disposition, .permanent)
        XCTAssertEqual(KafkaError(kind: .timeout, message: "x", isRetriable: true).disposition, .retriable)
        XCTAssertEqual(KafkaError(kind: .librdkafka, message: "x", isFatal: true).disposition, .fatal)
        XCTAssertEqual(KafkaError.closed.kind, .closed)
        XCTAssertEqual(KafkaError.closed.disposition, .permanent)
        XCTAssertEqual(KafkaError(code: RD_KAFKA_RESP_ERR__PURGE_QUEUE, context: "x").kind, .closed)
    }

    // MARK: topic names

    func testTopicNameRules() {
        for valid in ["a", "results", "duoguard.results-v2_x", String(repeating: "t", count: 249), "..."] {
            XCTAssertNil(KafkaTopicName.problem(with: valid), valid)
        }
        for invalid in ["", ".", "..", "bad topic!", "naïve", "a/b", "x\u{0}y", String(repeating: "a", count: 250), String(repeating: "a", count: 300)] {
            XCTAssertNotNil(KafkaTopicName.problem(with: invalid), invalid)
            XCTAssertThrowsError(try KafkaTopicName.validate(invalid)) { error in
                let error = error as? KafkaError
                XCTAssertEqual(error?.name, "TOPIC_EXCEPTION")
                XCTAssertEqual(error?.code, RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION.rawValue)
                XCTAssertEqual(error?.disposition, .permanent)
                XCTAssertEqual(error?.kind, .message)
            }
        }
        // The message never echoes a (possibly huge, hostile) name.
        let huge = String(repeating: "x", count: 100_000) + "!"
        XCTAssertLessThan(KafkaTopicName.problem(with: huge)?.count ?? .max, 200)
    }

    // MARK: assignment epochs

    func testEpochsGrowWithEachAssignmentAndVanishAtRevoke() {
        var state = ConsumerAssignment()
        let p0 = KafkaTopicPartition(topic: "t", partition: 0)
        let p1 = KafkaTopicPartition(topic: "t", partition: 1)
        XCTAssertNil(state.epoch(of: p0))
        _ = state.assign([p0, p1])
        XCTAssertEqual(state.epoch(of: p0), 1)
        XCTAssertEqual(state.epoch(of: KafkaTopicPartition(topic: "t", partition: 1, offset: 42)), 1, "offset is ignored")
        let old = KafkaConsumerMessage(topic: "t", partition: 0, offset: 5, assignmentEpoch: state.epoch(of: p0) ?? 0)
        XCTAssertTrue(state.isCurrent(old))

        // A revoke makes the epoch non-current at once, before the revoke completes.
        state.beginRevoke([p0])
        XCTAssertNil(state.epoch(of: p0))
        XCTAssertFalse(state.isCurrent(old))
        XCTAssertEqual(Set(state.assigned), [p0, p1], "still assigned until the revoke completes")
        state.finishRevoke([p0])
        XCTAssertEqual(Set(state.assigned), [p1])
        XCTAssertEqual(state.epoch(of: p1), 1, "a partition that stays keeps its epoch")

        // Re-assigned: a new epoch; messages of the old assignment stay stale.
        _ = state.assign([p0])
        XCTAssertEqual(state.epoch(of: p0), 2)
        XCTAssertFalse(state.isCurrent(old))
        XCTAssertTrue(state.isCurrent(KafkaConsumerMessage(topic: "t", partition: 0, offset: 5, assignmentEpoch: 2)))

        state.revokeAll()
        XCTAssertNil(state.epoch(of: p1))
        XCTAssertTrue(state.assigned.isEmpty)
        _ = state.assign([p1])
        XCTAssertEqual(state.epoch(of: p1), 2)
    }

    // MARK: flow control and pauses

    func testFlowControlPausesOnEitherLimitAndResumesAtHalfOfBoth() {
        let limits = ConsumerAssignment.Limits(maxMessages: 100, maxBytes: 1_000)
        var state = ConsumerAssignment()
        let p0 = KafkaTopicPartition(topic: "t", partition: 0)
        let p1 = KafkaTopicPartition(topic: "t", partition: 1)
        _ = state.assign([p0, p1])

        XCTAssertNil(state.flowControl(messages: 99, bytes: 999, limits: limits))
        // Bytes alone trip it.
        XCTAssertEqual(state.flowControl(messages: 3, bytes: 1_000, limits: limits), .init(pause: true, partitions: [p0, p1]))
        XCTAssertEqual(state.pausedPartitions, [p0, p1])
        // Not resumed while either is above half.
        XCTAssertNil(state.flowControl(messages: 3, bytes: 501, limits: limits))
        XCTAssertNil(state.flowControl(messages: 51, bytes: 0, limits: limits))
        XCTAssertEqual(state.flowControl(messages: 50, bytes: 500, limits: limits), .init(pause: false, partitions: [p0, p1]))
        // Count alone trips it too.
        XCTAssertEqual(state.flowControl(messages: 100, bytes: 0, limits: limits)?.pause, true)
    }

    func testApplicationPausesSurviveFlowControlAndNewAssignments() {
        let limits = ConsumerAssignment.Limits(maxMessages: 10, maxBytes: 1_000)
        var state = ConsumerAssignment()
        let p0 = KafkaTopicPartition(topic: "t", partition: 0)
        let p1 = KafkaTopicPartition(topic: "t", partition: 1)
        _ = state.assign([p0, p1])
        XCTAssertEqual(state.pauseByApplication([p0]), [p0])
        _ = state.flowControl(messages: 10, bytes: 0, limits: limits)
        // While flow control holds everything, application calls change only the bookkeeping.
        XCTAssertEqual(state.pauseByApplication([p1]), [])
        XCTAssertEqual(state.resumeByApplication([p1]), [])
        // Resume leaves the application's pause in place.
        XCTAssertEqual(state.flowControl(messages: 0, bytes: 0, limits: limits), .init(pause: false, partitions: [p1]))
        XCTAssertEqual(state.pausedPartitions, [p0])
        // A partition the application paused is paused again when re-assigned.
        state.beginRevoke([p0])
        state.finishRevoke([p0])
        XCTAssertEqual(state.pausedPartitions, [], "a revoke forgets the pause")
        _ = state.pauseByApplication([p0])
        XCTAssertEqual(state.assign([p0]), [p0])
        _ = state.flowControl(messages: 10, bytes: 0, limits: limits)
        let p2 = KafkaTopicPartition(topic: "t", partition: 2)
        XCTAssertEqual(state.assign([p2]), [p2], "assigned while flow control holds: paused at once")
    }

    func testBufferCountsBytesAndOvershootsByAtMostTheMessagesItWasGiven() {
        let buffer = KafkaMessageBuffer()
        let big = KafkaConsumerMessage(
            topic: "t", partition: 0, offset: 0, key: [1, 2], value: [UInt8](repeating: 7, count: 1_000),
            headers: [KafkaHeader(key: "h", value: [1, 2, 3]), KafkaHeader(key: "n", value: nil)])
        XCTAssertEqual(big.bufferedSize, KafkaConsumerMessage.overhead + 1 + 2 + 1_000 + 2 * KafkaConsumerMessage.headerOverhead + 1 + 3 + 1)
        buffer.append(contentsOf: [big, big, KafkaConsumerMessage(topic: "u", partition: 1, offset: 0)])
        XCTAssertEqual(buffer.size.messages, 3)
        XCTAssertEqual(buffer.bytes, 2 * big.bufferedSize + KafkaConsumerMessage.overhead + 1)
        _ = buffer.takeAvailable(max: 1)
        XCTAssertEqual(buffer.bytes, big.bufferedSize + KafkaConsumerMessage.overhead + 1)
        buffer.removeAll(of: [KafkaTopicPartition(topic: "t", partition: 0)])
        XCTAssertEqual(buffer.size.messages, 1)
        XCTAssertEqual(buffer.bytes, KafkaConsumerMessage.overhead + 1)
        _ = buffer.takeAvailable(max: 10)
        XCTAssertEqual(buffer.bytes, 0)
    }

    // MARK: handle leases

    func testLeasesRefuseCallsOnceClosingBeginsAndCloseWaitsForThoseInFlight() async throws {
        let lifetime = HandleLifetime()
        try lifetime.acquire(.whileOpen)  // a call in flight
        XCTAssertTrue(lifetime.beginClosing())
        XCTAssertFalse(lifetime.beginClosing())
        XCTAssertThrowsError(try lifetime.acquire(.whileOpen)) { XCTAssertEqual(($0 as? KafkaError)?.kind, .closed) }
        // A revoke handler's commit still runs while closing.
        try lifetime.withLease(.untilDestroyed) {}

        let closed = Locked(false)
        let closer = Thread {
            lifetime.closeAndWaitForLeases()
            closed.update { $0 = true }
        }
        closer.start()
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertFalse(closed.value, "close must wait for the call in flight")
        XCTAssertThrowsError(try lifetime.acquire(.untilDestroyed), "nothing is admitted once destruction began")
        lifetime.release()
        try await KafkaTestSupport.waitUntil("close proceeds once the call returned", timeout: .seconds(10)) {
            closed.value
        }
        XCTAssertEqual(lifetime.phase, .closed)
    }

    func testCloseWaitHasAHardUpperBound() async throws {
        let stuck = PollThreadShutdown()
        let start = ContinuousClock.now
        let closedInTime = await stuck.requestStopAndWait(atMost: .milliseconds(200))
        XCTAssertFalse(closedInTime)
        XCTAssertTrue(stuck.isStopRequested)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))

        let healthy = PollThreadShutdown()
        let closer = Task {
            try await Task.sleep(for: .milliseconds(100))
            healthy.markClosed()
        }
        let closed = await healthy.requestStopAndWait(atMost: .seconds(30))
        XCTAssertTrue(closed)
        let again = await healthy.requestStopAndWait(atMost: .seconds(30))
        XCTAssertTrue(again, "a second close returns at once")
        try await closer.value
        // A zero limit never strands the caller.
        let zero = await PollThreadShutdown().requestStopAndWait(atMost: .zero)
        XCTAssertFalse(zero)
    }

    // MARK: fatal error latch, pending deliveries

    func testFatalLatchKeepsTheFirstErrorAndWakesWaiters() async throws {
        let latch = FatalErrorLatch()
        let waiter = Task { await latch.wait() }
        try await Task.sleep(for: .milliseconds(50))
        var first = KafkaError(kind: .librdkafka, message: "first")
        first.markFatal()
        XCTAssertTrue(latch.record(first))
        XCTAssertFalse(latch.record(KafkaError(kind: .librdkafka, message: "second", isFatal: true)))
        let woken = await waiter.value
        XCTAssertEqual(woken?.message, "first")
        XCTAssertEqual(latch.error?.message, "first")
        let late = await latch.wait()
        XCTAssertEqual(late?.message, "first")
    }

    func testFatalLatchReturnsNilOnFinishAndOnCancellation() async throws {
        let latch = FatalErrorLatch()
        let cancelled = Task { await latch.wait() }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        let afterCancel = await cancelled.value
        XCTAssertNil(afterCancel)
        let waiter = Task { await latch.wait() }
        try await Task.sleep(for: .milliseconds(50))
        latch.finish()
        let afterFinish = await waiter.value
        XCTAssertNil(afterFinish)
        XCTAssertFalse(latch.record(KafkaError(kind: .librdkafka, message: "after close", isFatal: true)))
    }

    func testPendingDeliveriesCompleteOnceAndLeftoversFail() {
        let pending = PendingDeliveries()
        let results = Locked<[String]>([])
        let a = pending.register { result in results.update { $0.append("a:\((try? result.get())?.offset ?? -1)") } }
        let b = pending.register { result in
            results.update { $0.append("b:\((try? result.get()) == nil ? "failed" : "ok")") }
        }
        XCTAssertNotEqual(a, 0)
        XCTAssertEqual(pending.count, 2)
        pending.complete(a, with: .success(KafkaDeliveryReport(topic: "t", partition: 0, offset: 7)))
        pending.complete(a, with: .success(KafkaDeliveryReport(topic: "t", partition: 0, offset: 8)))
        pending.failAll(with: .closed)
        pending.complete(b, with: .success(KafkaDeliveryReport(topic: "t", partition: 0, offset: 9)))
        XCTAssertEqual(results.value, ["a:7", "b:failed"])
        XCTAssertEqual(pending.count, 0)
    }

    // MARK: configuration limits

    /// `fetch.wait.max.ms` is Kafka's default unless set (docs/kafka.md: lower it only for
    /// brokers that do not answer a waiting fetch when records arrive); a passthrough wins.
    func testConsumerFetchWaitIsKafkasDefaultUnlessSet() throws {
        var configuration = KafkaConsumerConfiguration(groupID: "g")
        XCTAssertEqual(configuration.librdkafkaProperties["fetch.wait.max.ms"], "500")
        configuration.fetchWait = .milliseconds(10)
        XCTAssertEqual(configuration.librdkafkaProperties["fetch.wait.max.ms"], "10")
        try configuration.validate()
        configuration.client.properties["fetch.wait.max.ms"] = "50"
        XCTAssertEqual(configuration.librdkafkaProperties["fetch.wait.max.ms"], "50", "-X passthrough overrides the typed value")
        for broken: Duration in [.milliseconds(-1), .seconds(301)] {
            var bad = KafkaConsumerConfiguration(groupID: "g")
            bad.fetchWait = broken
            XCTAssertThrowsError(try bad.validate()) { XCTAssertEqual(($0 as? KafkaError)?.kind, .configuration) }
        }
    }

    func testConsumerFetchSizingFollowsMaxMessageBytes() throws {
        var configuration = KafkaConsumerConfiguration(groupID: "g")
        XCTAssertEqual(configuration.maxBufferedBytes, 64 * 1024 * 1024)
        XCTAssertEqual(configuration.maxMessageBytes, 1_048_588)
        var properties = configuration.librdkafkaProperties
        XCTAssertEqual(properties["max.partition.fetch.bytes"], "1048588")
        XCTAssertEqual(properties["fetch.max.bytes"], String(8 * 1024 * 1024))
        let receive: Int = 8_388_608 + 1_048_588 + 65_536
        XCTAssertEqual(properties["receive.message.max.bytes"], String(receive))
        XCTAssertEqual(properties["queued.max.messages.kbytes"], "8192")

        configuration.maxMessageBytes = 20_000_000
        properties = configuration.librdkafkaProperties
        XCTAssertEqual(properties["fetch.max.bytes"], "20000000", "a fetch holds at least one record batch")
        let bigReceive: Int = 40_000_000 + 65_536
        XCTAssertEqual(properties["receive.message.max.bytes"], String(bigReceive))

        configuration.maxMessageBytes = 10_000
        configuration.maxPrefetchKilobytes = 100
        XCTAssertEqual(configuration.librdkafkaProperties["fetch.max.bytes"], "1000000", "librdkafka's floor")
        try configuration.validate()

        for broken in [
            { (c: inout KafkaConsumerConfiguration) in c.maxBufferedBytes = 0 },
            { $0.maxBufferedMessages = 0 },
            { $0.maxMessageBytes = 999 },
            { $0.maxMessageBytes = 2_000_000_000 },
            { $0.maxPrefetchKilobytes = 0 },
        ] {
            var bad = KafkaConsumerConfiguration(groupID: "g")
            broken(&bad)
            XCTAssertThrowsError(try bad.validate()) { XCTAssertEqual(($0 as? KafkaError)?.kind, .configuration) }
            XCTAssertThrowsError(try KafkaConsumer(configuration: bad))
        }
    }

    func testProducerMessageSizeAndQueueBytes() throws {
        var configuration = KafkaProducerConfiguration()
        let properties = configuration.librdkafkaProperties
        XCTAssertEqual(properties["message.max.bytes"], "1048588")
        XCTAssertEqual(properties["queue.buffering.max.kbytes"], "65536")
        configuration.maxQueuedBytes = 1_048_588
        XCTAssertEqual(configuration.librdkafkaProperties["queue.buffering.max.kbytes"], "1025", "rounded up")
        try configuration.validate()
        configuration.maxQueuedBytes = 1_000_000
        XCTAssertThrowsError(try configuration.validate(), "the queue must hold one message")
        XCTAssertThrowsError(try KafkaProducer(configuration: configuration))
        configuration = KafkaProducerConfiguration(maxMessageBytes: 100)
        XCTAssertThrowsError(try configuration.validate())
    }

    func testHugeDurationsSaturateInsteadOfTrapping() {
        XCTAssertEqual(Duration.seconds(Int64.max).milliseconds, Int64.max)
        XCTAssertEqual(Duration.seconds(Int64.min).milliseconds, Int64.min)
        XCTAssertEqual(Duration.milliseconds(1_500).milliseconds, 1_500)
    }

    /// Issue 21 item 11: which consumer errors stand for skipped records (handed over as
    /// `unreadable` stand-ins) and which do not.
    func testRecordErrorsThatSkipRecordsAreHandedOver() {
        XCTAssertTrue(RdKafkaMessage.skipsRecords(RD_KAFKA_RESP_ERR__BAD_COMPRESSION, offset: 10))
        XCTAssertTrue(RdKafkaMessage.skipsRecords(RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED, offset: 0))
        XCTAssertTrue(RdKafkaMessage.skipsRecords(RD_KAFKA_RESP_ERR__BAD_MSG, offset: 7))
        XCTAssertFalse(RdKafkaMessage.skipsRecords(RD_KAFKA_RESP_ERR__BAD_MSG, offset: -1001), "no offset: nothing to answer")
        XCTAssertFalse(RdKafkaMessage.skipsRecords(RD_KAFKA_RESP_ERR__TRANSPORT, offset: 5))
        XCTAssertFalse(RdKafkaMessage.skipsRecords(RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET, offset: 5))
        XCTAssertFalse(RdKafkaMessage.skipsRecords(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, offset: 5))
    }
}
