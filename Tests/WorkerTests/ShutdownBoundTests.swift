import Foundation
import Kafka
import Synchronization
import TestSupport
import Worker
import XCTest

/// Issue 21 item 6: a stop is bounded by the sum of its steps' timeouts, that sum is checked
/// at start against the process's limit, and the stop ends in an exit, never a crash.
final class ShutdownBoundTests: XCTestCase {
    private func configuration() -> WorkerConfiguration {
        WorkerConfiguration(
            kafka: KafkaConfiguration(bootstrapServers: ["127.0.0.1:1"]), groupID: "g", inputTopics: ["in"], outputTopic: "out",
            deadLetterTopic: "dlq")
    }

    func testBoundIsTheSumOfTheStepsAndTheDefaultFitsKubernetesGracePeriod() throws {
        let bound = configuration().shutdownBound
        XCTAssertEqual(bound.graceful, bound.steps.reduce(.zero) { $0 + $1.limit })
        XCTAssertEqual(bound.graceful, .seconds(30 + 5 + 10 + 5 + 5 + 2), "\(bound)")
        XCTAssertEqual(bound.fatal, .seconds(5 + 10 + 1 + 5 + 2), "a fatal stop does not wait for the drain")
        // deploy/kubernetes/deployment.yaml: terminationGracePeriodSeconds 60.
        XCTAssertLessThanOrEqual(configuration().shutdownLimit, .seconds(60))
        var longer = configuration()
        longer.drainTimeout = .seconds(100)
        XCTAssertEqual(longer.shutdownLimit, longer.shutdownBound.graceful + WorkerConfiguration.shutdownMargin, "derived from the timeouts")
    }

    func testALimitBelowTheBoundIsAStartUpErrorNamingTheTimeouts() throws {
        var configuration = configuration()
        configuration.shutdownLimitOverride = .seconds(60)  // deploy/kubernetes: the grace period
        XCTAssertNoThrow(try configuration.validate(batchTokenBudget: 8_192), "the defaults fit 60 s")
        configuration.shutdownLimitOverride = .seconds(30)
        XCTAssertThrowsError(try configuration.validate(batchTokenBudget: 8_192)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("--shutdown-limit-ms"), text)
            XCTAssertTrue(text.contains("--drain-timeout-ms") && text.contains("--commit-timeout-ms"), text)
        }
        configuration.drainTimeout = .seconds(10)
        XCTAssertThrowsError(try configuration.validate(batchTokenBudget: 8_192), "10 + 5 + 10 + 5 + 5 + 2 + 3 = 40 > 30")
        configuration.shutdownLimitOverride = .seconds(40)
        XCTAssertNoThrow(try configuration.validate(batchTokenBudget: 8_192))
    }

    func testWatchdogExitsWithAStatusOnceWhenTheLimitPasses() async throws {
        let exits = Mutex<[(Int32, String)]>([])
        let watchdog = ShutdownWatchdog(limit: .milliseconds(200), status: { 3 }) { status, message in
            exits.withLock { $0.append((status, message)) }
        }
        try await Task.sleep(for: .milliseconds(400))
        XCTAssertTrue(exits.withLock { $0.isEmpty }, "not armed: never fires")
        watchdog.arm()
        watchdog.arm()
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertTrue(exits.withLock { $0.isEmpty }, "fires at the limit, not before")
        try await Task.sleep(for: .milliseconds(600))
        let fired = exits.withLock { $0 }
        XCTAssertEqual(fired.map(\.0), [3], "once, with the status")
        XCTAssertTrue(fired.first?.1.contains("200 ms") ?? false)
    }

    /// The real `duoguard worker` on a real broker whose link is cut (relay frozen) just before
    /// SIGTERM: the drain, the final commit, the group leave and the flush all wait for a broker
    /// that never answers. Before, the final commit alone waited 30 s against a limit of
    /// 2 × drain + 15 s, and swift-service-lifecycle crashed the process (fatalError) 10 s
    /// after that limit. Now every step has its own timeout and the process exits 0 within
    /// the sum.
    func testSIGTERMDuringANetworkPartitionExitsCleanlyWithinTheComputedBound() async throws {
        let model = try WorkerTestSupport.modelPath()
        let broker = try await LocalBroker.start(port: 29_296, tansuPort: 29_297)
        defer { broker.stop() }
        let (client, topics, suffix) = try await broker.makeTopics(clientID: "shutdown-bound-test", inputPartitions: 1)
        var expected = configuration()
        expected.drainTimeout = .seconds(2)
        expected.commitTimeout = .seconds(3)
        expected.flushTimeout = .seconds(1)
        let limit = expected.shutdownLimit
        // Results are acknowledged and their offsets stored, never committed by the interval:
        // the final commit has something to send into the cut link.
        let worker = try WorkerTestSupport.spawnWorker(
            topics, group: "g-\(suffix)", model: model, id: "bound", brokers: broker.address,
            extra: ["--commit-interval-ms", "600000"],
            // As variables, which an older binary ignores (DUOGUARD_BINARY=<main's> shows the crash).
            environment: ["DUOGUARD_DRAIN_TIMEOUT_MS": "2000", "DUOGUARD_COMMIT_TIMEOUT_MS": "3000", "DUOGUARD_FLUSH_TIMEOUT_MS": "1000"])
        defer { ChildProcess.killIfRunning(worker) }
        try await WorkerTestSupport.produce(
            (0..<20).map { WorkerTestSupport.request(id: "b-\($0)", text: "request \($0)") }, to: topics.input, client: client)
        let counter = WorkerTestSupport.Counter()
        _ = try await WorkerTestSupport.read(topics.output, timeout: .seconds(120), client: client) { _ in counter.next() >= 20 }
        // More requests in flight when the link goes: their results cannot be acknowledged.
        try await WorkerTestSupport.produce(
            (20..<30).map { WorkerTestSupport.request(id: "b-\($0)", text: "request \($0)") }, to: topics.input, client: client)
        try broker.pauseLink()
        defer { try? broker.resumeLink() }
        try await Task.sleep(for: .milliseconds(500))
        let stopped = ContinuousClock.now
        worker.terminate()
        let status = await ChildProcess.waitForExit(worker, timeout: limit + .seconds(30), "worker after SIGTERM in a partition")
        let took = ContinuousClock.now - stopped
        print("shutdown bound test: exit \(status.map(String.init) ?? "none") after \(took); limit \(limit) (\(expected.shutdownBound))")
        XCTAssertEqual(status, 0, "a clean exit (128 + n is a crash by signal n)")
        XCTAssertLessThanOrEqual(took, limit + .seconds(1), "within the limit computed from the timeouts")
    }
}
