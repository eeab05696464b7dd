import Kafka
import Logging
import ModerationProto
import Synchronization
import Tracing
import XCTest

@testable import Worker

/// `ResultSender` through its seams (a scripted record sink and offset store), without Kafka:
/// what each delivery outcome leads to, and that the ledger is complete before the bytes are
/// released (issue 17 problem 2).
final class ResultSenderTests: XCTestCase {
    /// Records every produced record; the test decides each delivery's outcome.
    private final class ScriptedSink: RecordSink, @unchecked Sendable {
        private let lock = Mutex<[(KafkaProducerMessage, @Sendable (Result<Void, KafkaError>) -> Void)]>([])
        func produce(_ message: KafkaProducerMessage, delivered: @escaping @Sendable (Result<Void, KafkaError>) -> Void) throws(KafkaError) {
            lock.withLock { $0.append((message, delivered)) }
        }
        var count: Int { lock.withLock { $0.count } }
        func topic(_ index: Int) -> String { lock.withLock { $0[index].0.topic } }
        func header(_ index: Int, _ key: String) -> String? {
            lock.withLock { $0[index].0.headers.first { $0.key == key }.flatMap { $0.value.map { String(decoding: $0, as: UTF8.self) } } }
        }
        func resolve(_ index: Int, _ result: Result<Void, KafkaError>) {
            let callback = lock.withLock { $0[index].1 }
            callback(result)
        }
        /// Waits (bounded) until `count` records were produced (retries run after a backoff).
        func waitFor(_ count: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(5)
            while self.count < count {
                guard ContinuousClock.now < deadline else { throw NeverProduced(count: count) }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
    }

    private struct NeverProduced: Error {
        var count: Int
    }

    /// Records stored positions and the bytes the budget held at that moment.
    private final class RecordingStore: OffsetStore, @unchecked Sendable {
        let budget: InFlightBudget
        private let lock = Mutex<[(Int64, Int)]>([])
        init(budget: InFlightBudget) { self.budget = budget }
        func store(_ partition: KafkaTopicPartition, epoch: UInt64, position: Int64) throws(KafkaError) -> Bool {
            let used = budget.used
            lock.withLock { $0.append((position, used)) }
            return true
        }
        func commitStored() async throws(KafkaError) {}
        var stored: [(position: Int64, bytesHeld: Int)] { lock.withLock { $0.map { ($0.0, $0.1) } } }
    }

    private final class FatalLatch: @unchecked Sendable {
        let reason = Mutex<String?>(nil)
    }

    private struct Rig {
        let sink = ScriptedSink()
        let ledger = RequestLedger()
        let budget = InFlightBudget(limit: 1 << 20)
        let store: RecordingStore
        let fatal = FatalLatch()
        let sender: ResultSender

        init(maxRetryAge: Duration = .seconds(300)) {
            store = RecordingStore(budget: budget)
            let fatal = fatal
            sender = ResultSender(
                producer: sink, ledger: ledger, offsets: store, budget: budget, deadLetters: DeadLetterComposer(topic: "dlq"),
                metrics: WorkerMetrics(), counts: WorkerCounts(), logger: Self.quiet, maxBackoff: .milliseconds(20),
                maxRetryAge: maxRetryAge, tracing: WorkerTracing(tracer: NoOpTracer(), group: "g")
            ) { reason in fatal.reason.withLock { $0 = reason } }
        }

        private static let quiet: Logger = {
            var logger = Logger(label: "result-sender-tests")
            logger.logLevel = .critical
            return logger
        }()

        /// A request read and registered, its bytes held, as intake does.
        func read(_ offset: Int64) async -> KafkaConsumerMessage {
            let message = KafkaConsumerMessage(topic: "in", partition: 0, offset: offset, value: Array("x".utf8), assignmentEpoch: 1)
            _ = await budget.acquire(message.bufferedSize)
            XCTAssertTrue(ledger.register(message))
            return message
        }
    }

    private static let result = Outgoing(role: .result, message: KafkaProducerMessage(topic: "out", value: [1]))
    private static let retriable = KafkaError(kind: .librdkafka, name: "_TRANSPORT", message: "down", disposition: .retriable)
    private static let permanent = KafkaError(kind: .librdkafka, name: "MSG_SIZE_TOO_LARGE", message: "big", disposition: .permanent)

    func testAnAcknowledgedResultStoresThePositionBeforeTheBytesAreReleased() async {
        let rig = Rig()
        let message = await rig.read(0)
        rig.sender.send([Self.result], for: message, read: .now)
        XCTAssertEqual(rig.store.stored.count, 0, "not before the acknowledgement")
        rig.sink.resolve(0, .success(()))
        XCTAssertEqual(rig.store.stored.map(\.position), [1])
        XCTAssertEqual(rig.store.stored.first?.bytesHeld, message.bufferedSize, "the ledger first, then the bytes")
        XCTAssertEqual(rig.budget.used, 0)
        XCTAssertEqual(rig.ledger.unansweredCount(), 0)
    }

    func testARetriableFailureIsRetriedAndTheRequestStaysUnansweredMeanwhile() async throws {
        let rig = Rig()
        let message = await rig.read(0)
        rig.sender.send([Self.result], for: message, read: .now)
        rig.sink.resolve(0, .failure(Self.retriable))
        XCTAssertEqual(rig.ledger.unansweredCount(), 1)
        try await rig.sink.waitFor(2)
        XCTAssertEqual(rig.sink.topic(1), "out", "the same result again")
        rig.sink.resolve(1, .success(()))
        XCTAssertEqual(rig.store.stored.map(\.position), [1])
    }

    func testAResultRefusedForGoodBecomesAnUndeliverableDeadLetter() async {
        let rig = Rig()
        let message = await rig.read(0)
        rig.sender.send([Self.result], for: message, read: .now)
        rig.sink.resolve(0, .failure(Self.permanent))
        XCTAssertEqual(rig.sink.count, 2)
        XCTAssertEqual(rig.sink.topic(1), "dlq")
        XCTAssertEqual(rig.sink.header(1, ModerationHeader.errorCode), "UNDELIVERABLE")
        XCTAssertEqual(rig.ledger.unansweredCount(), 1, "answered only once the dead letter is acknowledged")
        rig.sink.resolve(1, .success(()))
        XCTAssertEqual(rig.store.stored.map(\.position), [1])
    }

    func testADeadLetterTopicRefusingEveryFormIsFatalAndStoresNothing() async {
        let rig = Rig()
        let message = await rig.read(0)
        rig.sender.send([Self.result], for: message, read: .now)
        for index in 0..<4 { rig.sink.resolve(index, .failure(Self.permanent)) }
        XCTAssertEqual(rig.sink.count, 4, "result, then the dead letter whole, without value, coordinates only")
        XCTAssertNotNil(rig.fatal.reason.withLock { $0 })
        XCTAssertEqual(rig.store.stored.count, 0)
        XCTAssertEqual(rig.ledger.unansweredCount(), 1)
    }

    func testARequestIsAnsweredOnlyWhenAllItsRecordsAreAcknowledged() async {
        let rig = Rig()
        let first = await rig.read(0)
        let second = await rig.read(1)
        let letter = Outgoing(
            role: .deadLetter(DeadLetterReason(code: "INVALID", message: "bad"), .whole),
            message: DeadLetterComposer(topic: "dlq").compose(for: second, reason: DeadLetterReason(code: "INVALID", message: "bad")))
        rig.sender.send([Self.result], for: first, read: .now)
        rig.sender.send([letter, Self.result], for: second, read: .now)
        rig.sink.resolve(1, .success(()))
        rig.sink.resolve(2, .success(()))
        XCTAssertEqual(rig.store.stored.count, 0, "offset 0 is still open")
        rig.sink.resolve(0, .success(()))
        XCTAssertEqual(rig.store.stored.map(\.position), [2])
    }

    /// Issue 21 item 1: a result failing retriably for longer than its age bound becomes an
    /// UNDELIVERABLE dead letter (a reply-to that stays unwritable cannot freeze the partition).
    func testAResultFailingRetriablyPastItsAgeBecomesAnUndeliverableDeadLetter() async throws {
        let rig = Rig(maxRetryAge: .milliseconds(60))
        let message = await rig.read(0)
        rig.sender.send([Self.result], for: message, read: .now)
        var index = 0
        while rig.sink.topic(index) == "out" {
            XCTAssertLessThan(index, 200, "the age bound must end the retries")
            rig.sink.resolve(index, .failure(Self.retriable))
            index += 1
            try await rig.sink.waitFor(index + 1)
        }
        XCTAssertGreaterThan(index, 1, "retried before giving up")
        XCTAssertEqual(rig.sink.topic(index), "dlq")
        XCTAssertEqual(rig.sink.header(index, ModerationHeader.errorCode), "UNDELIVERABLE")
        XCTAssertEqual(rig.sink.header(index, ModerationHeader.errorMessage)?.contains("_TRANSPORT"), true, "with the last error")
        rig.sink.resolve(index, .success(()))
        XCTAssertEqual(rig.store.stored.map(\.position), [1])
        XCTAssertEqual(rig.budget.used, 0)
    }

    /// Issue 21 item 1: a revoke (or stop) cancels waiting retries; their requests are handed
    /// back (position frozen below them) and their bytes released; the retry never runs.
    func testCancelledRetriesHandTheRequestBackAndReleaseItsBytes() async throws {
        let rig = Rig()
        let first = await rig.read(0)
        let second = await rig.read(1)
        rig.sender.send([Self.result], for: first, read: .now)
        rig.sender.send([Self.result], for: second, read: .now)
        rig.sink.resolve(0, .failure(Self.retriable))
        XCTAssertEqual(rig.sender.pendingRetryCount, 1)
        rig.sender.cancelRetries(of: [RequestLedger.Assignment(of: first)])
        XCTAssertEqual(rig.sender.pendingRetryCount, 0)
        XCTAssertEqual(rig.budget.used, second.bufferedSize, "the cancelled request's bytes are released")
        rig.sink.resolve(1, .success(()))
        XCTAssertEqual(rig.store.stored.count, 0, "offset 0 was handed back: nothing past it is stored")
        XCTAssertEqual(rig.ledger.unansweredCount(), 0)
        try await Task.sleep(for: .milliseconds(60))
        XCTAssertEqual(rig.sink.count, 2, "the cancelled retry never ran")
    }

    /// A delivery failing after its assignment is over is not retried: the request is
    /// handed back and its bytes released (no retry outlives its assignment).
    func testNoRetryForAnAssignmentThatIsOver() async {
        let rig = Rig()
        let message = await rig.read(0)
        rig.sender.send([Self.result], for: message, read: .now)
        rig.ledger.forget([RequestLedger.Assignment(of: message)])
        rig.sink.resolve(0, .failure(Self.retriable))
        XCTAssertEqual(rig.sender.pendingRetryCount, 0)
        XCTAssertEqual(rig.budget.used, 0)
    }
}
