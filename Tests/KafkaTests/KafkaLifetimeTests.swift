import CRdKafka
import Foundation
import XCTest

@testable import Kafka
import TestSupport

/// No librdkafka call outlives its handle, and fatal errors are latched, against the real
/// local broker.
final class KafkaLifetimeTests: XCTestCase {
    /// The CI hang of issue 13 (item 4): a lag reporter inside
    /// `rd_kafka_query_watermark_offsets` on a consumer being closed. Here two tasks hammer
    /// the lag queries while `close()` runs, round after round, closing at varied moments
    /// (during the group join, right after the assignment, mid-stream).
    func testLagQueriesHammeredDuringCloseNeitherCrashNorHang() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 2, prefix: "lifetime")
        try await KafkaTestSupport.produce(20, to: topic)
        let partitions = [KafkaTopicPartition(topic: topic, partition: 0), KafkaTopicPartition(topic: topic, partition: 1)]
        let rounds = 8
        var succeededCalls = 0
        var closedCalls = 0
        for round in 0..<rounds {
            let consumer = try KafkaConsumer(
                configuration: KafkaTestSupport.consumerConfiguration(group: KafkaTestSupport.uniqueName("g")),
                logger: KafkaTestSupport.logger)
            try consumer.subscribe(topics: [topic])
            let drain = Task { for await _ in consumer.messages {} }
            if round % 2 == 1 {
                try await KafkaTestSupport.waitUntil("assignment (round \(round))") { consumer.assignment.count == 2 }
            }
            // Each hammer runs until a call reports that the client is closed.
            let hammers = (0..<2).map { worker in
                Task { () -> (ok: Int, closed: Int, other: [KafkaError]) in
                    var ok = 0
                    var other: [KafkaError] = []
                    while true {
                        do throws(KafkaError) {
                            if worker == 0 {
                                _ = try await consumer.watermarks(topic: topic, partition: 0, timeout: .seconds(5))
                            } else {
                                _ = try await consumer.committed(partitions, timeout: .seconds(5))
                                _ = try await consumer.watermarks(topic: topic, partition: 1, timeout: .seconds(5))
                            }
                            ok += 1
                        } catch where error.kind == .closed {
                            return (ok, 1, other)
                        } catch {
                            other.append(error)
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(50 * (round % 4)))
            let closeStart = ContinuousClock.now
            await KafkaTestSupport.close(consumer, timeout: .seconds(40))
            let closeTime = ContinuousClock.now - closeStart
            for hammer in hammers {
                let outcome = try await BoundedWait.within(.seconds(20), "a hammering task ends after close (round \(round))") {
                    await hammer.value
                }
                succeededCalls += outcome.ok
                closedCalls += outcome.closed
                XCTAssertTrue(
                    outcome.other.allSatisfy { $0.kind == .timeout || $0.disposition == .retriable },
                    "round \(round): unexpected errors \(outcome.other)")
            }
            drain.cancel()
            // Once closed, every call fails at once with `closed`, without reaching librdkafka.
            let start = ContinuousClock.now
            for call in 0..<4 {
                do {
                    switch call {
                    case 0: _ = try await consumer.watermarks(topic: topic, partition: 0)
                    case 1: _ = try await consumer.committed(partitions)
                    case 2: try await consumer.commit()
                    default: try consumer.storeOffsets([KafkaTopicPartition(topic: topic, partition: 0, offset: 1)])
                    }
                    XCTFail("call \(call) after close must throw")
                } catch {
                    XCTAssertEqual(error.kind, .closed, "\(error)")
                }
            }
            XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(500))
            XCTAssertLessThan(closeTime, .seconds(20), "round \(round): close took \(closeTime)")
        }
        XCTAssertEqual(closedCalls, 2 * rounds, "every hammer saw `closed`")
        XCTAssertGreaterThan(succeededCalls, 0, "the queries really ran before the closes")
        print("lifetime: \(rounds) rounds, \(succeededCalls) lag queries answered before close, \(closedCalls) refused after")
    }

    /// The producer side: sends, flushes and queue reads racing `close()`; every `send`
    /// returns (delivered, or failed with a permanent closing error), none hangs.
    func testSendsRacingProducerCloseAllReturn() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 1, prefix: "lifetime-p")
        for round in 0..<5 {
            let producer = try KafkaTestSupport.producer()
            let senders = (0..<4).map { worker in
                Task { () -> (delivered: Int, failed: [KafkaError]) in
                    var delivered = 0
                    var failed: [KafkaError] = []
                    for i in 0..<200 {
                        do throws(KafkaError) {
                            try await producer.send(KafkaProducerMessage(topic: topic, value: Array("\(round)-\(worker)-\(i)".utf8)))
                            delivered += 1
                        } catch {
                            failed.append(error)
                            if error.kind == .closed { break }
                        }
                        _ = producer.queuedCount
                    }
                    return (delivered, failed)
                }
            }
            try await Task.sleep(for: .milliseconds(30 * round))
            await KafkaTestSupport.close(producer, flushTimeout: .seconds(5))
            for sender in senders {
                let outcome = try await BoundedWait.within(.seconds(30), "a sender ends after close (round \(round))") {
                    await sender.value
                }
                for error in outcome.failed {
                    XCTAssertEqual(error.disposition, .permanent, "\(error)")
                    XCTAssertEqual(error.kind, .closed, "\(error)")
                }
            }
            XCTAssertEqual(producer.queuedCount, 0)
            do {
                try await producer.flush(timeout: .seconds(1))
                XCTFail("flush after close must throw")
            } catch {
                XCTAssertEqual(error.kind, .closed)
            }
        }
    }

    func testProducerFatalErrorIsLatchedAwaitableAndFailsLaterSends() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 1, prefix: "fatal")
        let producer = try KafkaTestSupport.producer()
        try await producer.send(KafkaProducerMessage(topic: topic, value: Array("before".utf8)))
        XCTAssertNil(producer.fatalError)
        let waiter = Task { await producer.waitForFatalError() }
        let errors = Task { () -> KafkaError? in
            for await error in producer.errors where error.isFatal { return error }
            return nil
        }
        // librdkafka's own fatal-error path, as an idempotent producer's lost sequence takes it.
        try producer.raiseFatalErrorForTesting(
            code: RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER.rawValue, reason: "test: sequence lost")
        let fatal = try await BoundedWait.within(.seconds(10), "waitForFatalError returns") { await waiter.value }
        XCTAssertEqual(fatal?.name, "OUT_OF_ORDER_SEQUENCE_NUMBER")
        XCTAssertEqual(fatal?.disposition, .fatal)
        XCTAssertEqual(fatal?.isFatal, true)
        XCTAssertEqual(producer.fatalError, fatal)
        let streamed = try await BoundedWait.within(.seconds(10), "the fatal error on `errors`") { await errors.value }
        XCTAssertEqual(streamed?.name, "OUT_OF_ORDER_SEQUENCE_NUMBER")
        do {
            try await producer.send(KafkaProducerMessage(topic: topic, value: Array("after".utf8)))
            XCTFail("a fatal producer must not deliver")
        } catch {
            XCTAssertEqual(error.disposition, .fatal, "\(error)")
        }
        await KafkaTestSupport.close(producer, flushTimeout: .seconds(2))
        let afterClose = await producer.waitForFatalError()
        XCTAssertEqual(afterClose?.name, "OUT_OF_ORDER_SEQUENCE_NUMBER", "the latch keeps it after close")
        errors.cancel()
    }

    func testWaitForFatalErrorReturnsNilWhenTheProducerClosesWithoutOne() async throws {
        let producer = try KafkaTestSupport.producer()
        let waiter = Task { await producer.waitForFatalError() }
        let cancelled = Task { await producer.waitForFatalError() }
        cancelled.cancel()
        let cancelledResult = try await BoundedWait.within(.seconds(5), "a cancelled wait returns") { await cancelled.value }
        XCTAssertNil(cancelledResult)
        await KafkaTestSupport.close(producer)
        let result = try await BoundedWait.within(.seconds(5), "the wait returns at close") { await waiter.value }
        XCTAssertNil(result)
    }

    func testConsumerFatalErrorArrivesAsFatalEventAndIsLatched() async throws {
        let topic = try await KafkaTestSupport.createTopic(partitions: 1, prefix: "fatal-c")
        let consumer = try KafkaConsumer(
            configuration: KafkaTestSupport.consumerConfiguration(group: KafkaTestSupport.uniqueName("g")),
            logger: KafkaTestSupport.logger)
        try consumer.subscribe(topics: [topic])
        let event = Task { () -> KafkaError? in
            for await event in consumer.events {
                switch event {
                case .error(let error) where error.isFatal: return error
                case .partitionsRevoked(_, let ack): ack.acknowledge()
                default: break
                }
            }
            return nil
        }
        try await KafkaTestSupport.waitUntil("assignment") { consumer.assignment.count == 1 }
        // A consumer's real fatal error is a fenced static member (group.instance.id).
        try consumer.raiseFatalErrorForTesting(code: RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID.rawValue, reason: "test: fenced")
        let fatal = try await BoundedWait.within(.seconds(10), "waitForFatalError returns") { await consumer.waitForFatalError() }
        XCTAssertEqual(fatal?.name, "FENCED_INSTANCE_ID")
        XCTAssertEqual(fatal?.disposition, .fatal)
        let fromEvents = try await BoundedWait.within(.seconds(10), "a fatal .error event") { await event.value }
        XCTAssertEqual(fromEvents?.isFatal, true)
        XCTAssertEqual(fromEvents?.name, "FENCED_INSTANCE_ID")
        XCTAssertEqual(consumer.fatalError, fatal)
        // librdkafka 2.0.2 never finishes destroying a consumer after a fatal error; close
        // must still return promptly (it leaves that handle alone).
        let start = ContinuousClock.now
        await KafkaTestSupport.close(consumer)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(15))
        event.cancel()
    }
}
