import Kafka
import Logging
import Synchronization
import TestSupport
import Tracing
import XCTest

@testable import Worker

/// The real `RebalanceHandler` through the message-source seam (`MessageSource`, `GroupEvent`),
/// without Kafka: a scripted source hands it assignments, revokes and losses and records what
/// the handler did (commits, acknowledgements) in order.
final class RebalanceHandlerTests: XCTestCase {
    private let p0 = KafkaTopicPartition(topic: "requests", partition: 0)

    /// A message source the test scripts: it sends the group events, moves the partitions'
    /// epochs as Kafka would, and logs commits and acknowledgements in the order they happen.
    private final class ScriptedSource: MessageSource {
        let records: AsyncStream<KafkaConsumerMessage>
        let groupEvents: AsyncStream<GroupEvent>
        private let recordInput: AsyncStream<KafkaConsumerMessage>.Continuation
        private let eventInput: AsyncStream<GroupEvent>.Continuation
        private let epochs = Mutex<[KafkaTopicPartition: UInt64]>([:])
        private let counts = Mutex<[KafkaTopicPartition: UInt64]>([:])
        private let log = Mutex<[String]>([])
        /// One element per acknowledgement, in order (awaited by the test, no polling).
        let acknowledgements: AsyncStream<String>
        private let acknowledgementInput: AsyncStream<String>.Continuation

        init() {
            (records, recordInput) = AsyncStream.makeStream()
            (groupEvents, eventInput) = AsyncStream.makeStream()
            (acknowledgements, acknowledgementInput) = AsyncStream.makeStream()
        }

        func assignmentEpoch(of partition: KafkaTopicPartition) -> UInt64? { epochs.withLock { $0[partition] } }
        var assignedCount: Int { epochs.withLock { $0.count } }
        func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) { record("pause") }
        func commit(timeout: Duration) async throws(KafkaError) { record("commit") }
        var entries: [String] { log.withLock { $0 } }

        private func record(_ entry: String) { log.withLock { $0.append(entry) } }

        private func acknowledgement(_ name: String) -> GroupEventAcknowledgement {
            GroupEventAcknowledgement { [self] in
                record("ack \(name)")
                acknowledgementInput.yield(name)
            }
        }

        /// Kafka's order: the epoch moves first, then the event is queued. Returns the new epoch.
        @discardableResult
        func assign(_ partition: KafkaTopicPartition) -> UInt64 {
            let epoch = counts.withLock { counts in
                counts[partition, default: 0] += 1
                return counts[partition]!
            }
            epochs.withLock { $0[partition] = epoch }
            eventInput.yield(.assigned([partition], acknowledgement("assign \(epoch)")))
            return epoch
        }

        /// Kafka's order: the partition is no longer assigned before the handler hears of it.
        func revoke(_ partition: KafkaTopicPartition) {
            _ = epochs.withLock { $0.removeValue(forKey: partition) }
            eventInput.yield(.revoked([partition], acknowledgement("revoke")))
        }

        func lose(_ partition: KafkaTopicPartition) {
            _ = epochs.withLock { $0.removeValue(forKey: partition) }
            eventInput.yield(.lost([partition], acknowledgement("lost")))
        }

        func close() {
            eventInput.finish()
            recordInput.finish()
        }
    }

    private static let quiet: Logger = {
        var logger = Logger(label: "rebalance-handler-tests")
        logger.logLevel = .critical
        return logger
    }()

    private static func handler(_ source: ScriptedSource, _ ledger: RequestLedger, drainTimeout: Duration) -> RebalanceHandler<ScriptedSource> {
        RebalanceHandler(
            consumer: source, ledger: ledger, metrics: WorkerMetrics(), drainTimeout: drainTimeout, commitTimeout: .seconds(1),
            logger: Self.quiet, abandonQueued: { _ in }, cancelRetries: { _ in }, isStopping: { false })
    }

    private static func nextAcknowledgement(_ iterator: AsyncStream<String>) async throws -> String? {
        try await BoundedWait.within(.seconds(10), "the handler's acknowledgement") {
            var acknowledgements = iterator.makeAsyncIterator()
            return await acknowledgements.next()
        }
    }

    /// A revoke waits for the request in flight (woken by its answer, not by the drain time),
    /// commits, and only then acknowledges; the answer's position was stored before.
    func testRevokeWaitsForTheAnswerThenCommitsThenAcknowledges() async throws {
        let source = ScriptedSource()
        let ledger = RequestLedger()
        let handler = Self.handler(source, ledger, drainTimeout: .seconds(60))
        let run = Task { await handler.run() }
        let epoch = source.assign(p0)
        let assigned = try await Self.nextAcknowledgement(source.acknowledgements)
        XCTAssertEqual(assigned, "assign 1")
        XCTAssertTrue(ledger.register(.init(p0, epoch: epoch), offset: 0))

        let started = ContinuousClock.now
        source.revoke(p0)
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertFalse(source.entries.contains("ack revoke"), "not acknowledged while a request is unanswered")
        let stored = Mutex<[Int64]>([])
        ledger.answered(.init(p0, epoch: epoch), offset: 0) { position in stored.withLock { $0.append(position) } }
        let revoked = try await Self.nextAcknowledgement(source.acknowledgements)
        XCTAssertEqual(revoked, "revoke")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10), "woken by the answer, not by the 60 s drain time")
        XCTAssertEqual(stored.withLock { $0 }, [1])
        XCTAssertEqual(source.entries, ["ack assign 1", "commit", "ack revoke"])
        source.close()
        await run.value
    }

    /// A loss drops the assignment's unanswered work and commits nothing.
    func testLossForgetsWithoutCommitting() async throws {
        let source = ScriptedSource()
        let ledger = RequestLedger()
        let handler = Self.handler(source, ledger, drainTimeout: .seconds(60))
        let run = Task { await handler.run() }
        let epoch = source.assign(p0)
        _ = try await Self.nextAcknowledgement(source.acknowledgements)
        XCTAssertTrue(ledger.register(.init(p0, epoch: epoch), offset: 0))
        source.lose(p0)
        let lost = try await Self.nextAcknowledgement(source.acknowledgements)
        XCTAssertEqual(lost, "lost")
        XCTAssertEqual(ledger.unansweredCount(), 0)
        XCTAssertFalse(source.entries.contains("commit"))
        source.close()
        await run.value
    }

    /// Issue 17 problem 1 through the real handler: a revoke that outlasts the consumer's wait,
    /// the partition assigned back (epoch 2) and its records registered before the old cleanup
    /// ends. Returns whether epoch 2 is still alive after the old revoke's `forget`.
    private func secondAssignmentSurvivesALateRevokeCleanup(_ ledger: RequestLedger) async throws -> Bool {
        let source = ScriptedSource()
        let handler = Self.handler(source, ledger, drainTimeout: .milliseconds(300))
        let run = Task { await handler.run() }
        let first = source.assign(p0)
        _ = try await Self.nextAcknowledgement(source.acknowledgements)
        XCTAssertTrue(ledger.register(.init(p0, epoch: first), offset: 0))  // never answered: the drain times out
        source.revoke(p0)
        // The consumer stopped waiting for the acknowledgement and got P back: intake reads
        // epoch 2 (its epoch matches the source's) while the old handler is still draining.
        let second = source.assign(p0)
        XCTAssertEqual(source.assignmentEpoch(of: p0), second)
        XCTAssertTrue(ledger.register(.init(p0, epoch: second), offset: 0))
        let revoked = try await Self.nextAcknowledgement(source.acknowledgements)
        XCTAssertEqual(revoked, "revoke")
        let reassigned = try await Self.nextAcknowledgement(source.acknowledgements)
        XCTAssertEqual(reassigned, "assign 2")
        let alive = ledger.isAwaiting(.init(p0, epoch: second), offset: 0) && ledger.register(.init(p0, epoch: second), offset: 1)
        source.close()
        await run.value
        return alive
    }

    func testALateRevokeCleanupLeavesTheNextAssignmentAlone() async throws {
        let ledger = RequestLedger()
        let alive = try await secondAssignmentSurvivesALateRevokeCleanup(ledger)
        XCTAssertTrue(alive, "epoch 2's records are still registered and new ones accepted")
        let stored = Mutex<[Int64]>([])
        ledger.answered(.init(p0, epoch: 2), offset: 0) { position in stored.withLock { $0.append(position) } }
        ledger.answered(.init(p0, epoch: 2), offset: 1) { position in stored.withLock { $0.append(position) } }
        XCTAssertEqual(stored.withLock { $0 }.last, 2, "epoch 2 moves on")
    }

    /// Teeth: with the old epoch-blind cleanup put back, the same schedule must show the wipe,
    /// or the test above could pass without exercising anything.
    func testThePlantedEpochBlindCleanupIsCaught() async throws {
        let alive = try await secondAssignmentSurvivesALateRevokeCleanup(RequestLedger(faults: [.epochBlindCleanup]))
        XCTAssertFalse(alive, "the planted fault wipes epoch 2, and this schedule shows it")
    }
}
