import Foundation
import Inference
import Kafka
import ModerationProto
import TestSupport
@testable import Worker
import XCTest

/// `replay --yield-to-group`: the hysteresis rule without a broker, and against the real
/// broker a replay that waits while a live group lags and finishes once it has caught up.
final class ReplayYieldTests: XCTestCase {
    func testHysteresisPausesAboveTheMarkAndResumesOnlyAtTheLowerOne() throws {
        var machine = try XCTUnwrap(LiveLagHysteresis(pauseAbove: 100, resumeAtOrBelow: 40))
        XCTAssertNil(machine.observe(lag: 0))
        XCTAssertNil(machine.observe(lag: 100), "at the mark is not above it")
        XCTAssertEqual(machine.observe(lag: 101), .pause(lag: 101))
        XCTAssertEqual(machine.state, .yielding)
        XCTAssertNil(machine.observe(lag: 500))
        XCTAssertNil(machine.observe(lag: 99), "below the pause mark but above the resume mark: still paused")
        XCTAssertNil(machine.observe(lag: 41))
        machine.observeFailure()
        XCTAssertEqual(machine.state, .yielding, "a failed reading changes nothing")
        XCTAssertNil(machine.lastLag)
        XCTAssertEqual(machine.failedReadings, 1)
        XCTAssertEqual(machine.observe(lag: 40), .resume(lag: 40))
        XCTAssertEqual(machine.failedReadings, 0)
        XCTAssertNil(machine.observe(lag: 90), "running again until the lag passes 100")
        machine.observeFailure()
        XCTAssertEqual(machine.state, .running)
        XCTAssertEqual(machine.observe(lag: 1_000), .pause(lag: 1_000))
        XCTAssertEqual(machine.pauses, 2)
        XCTAssertNil(LiveLagHysteresis(pauseAbove: 10, resumeAtOrBelow: 10), "equal marks are no hysteresis")
        XCTAssertNil(LiveLagHysteresis(pauseAbove: 10, resumeAtOrBelow: -1))
        XCTAssertEqual(LiveYield(group: "g", topics: ["t"]).resumeMark, 500)
    }

    func testGateHoldsIntakeUntilOpenedAndCountsPausedTime() async throws {
        let gate = ReplayYieldGate()
        await gate.wait()  // open: returns at once
        gate.close(reason: "live lag 5 > 1")
        let passed = Task { await gate.wait(); return ContinuousClock.now }
        try await Task.sleep(for: .milliseconds(300))
        let opened = ContinuousClock.now
        XCTAssertTrue(gate.status.paused)
        XCTAssertEqual(gate.status.reason, "live lag 5 > 1")
        gate.open(reason: "live lag 0 <= 0")
        let through = await passed.value
        XCTAssertGreaterThanOrEqual(through, opened, "the waiter passed only once the gate opened")
        XCTAssertGreaterThanOrEqual(gate.status.pausedSeconds, 0.25)
        XCTAssertEqual(gate.status.pauses, 1)
        gate.close(reason: "again")
        gate.release()  // stopping: open for good
        gate.close(reason: "after release")
        await gate.wait()
        XCTAssertFalse(gate.status.paused)
    }

    private struct Setup {
        var topics: WorkerTestSupport.Topics
        var live: String
        var liveGroup: String
        var plan: ReplayPlan
        var backlog: Int
    }

    /// Backlog on the input topic, a live topic with records, and a live group whose commits
    /// are made here (as live workers would make them).
    private func setUp(backlog: Int, liveRecords: Int) async throws -> Setup {
        let topics = try await WorkerTestSupport.makeTopics(partitions: 2)
        let live = "live-\(UUID().uuidString.prefix(8).lowercased())"
        let admin = try KafkaAdmin(configuration: WorkerTestSupport.client, logger: WorkerTestSupport.logger)
        try await admin.createTopics([.init(name: live, partitions: 2)])
        try await WorkerTestSupport.produce(
            (0..<backlog).map { WorkerTestSupport.request(id: "b-\($0)", text: "backlog text \($0 % 17)") }, to: topics.input)
        try await WorkerTestSupport.produce(
            (0..<liveRecords).map { WorkerTestSupport.request(id: "l-\($0)", text: "live \($0)") }, to: live)
        let reader = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: WorkerTestSupport.client, groupID: "marks"), logger: WorkerTestSupport.logger)
        var ranges: [Int32: Range<Int64>] = [:]
        for partition: Int32 in 0..<2 {
            ranges[partition] = 0..<(try await reader.watermarks(topic: topics.input, partition: partition).high)
        }
        await reader.close()
        return Setup(
            topics: topics, live: live, liveGroup: "live-group-\(UUID().uuidString.prefix(8))",
            plan: ReplayPlan(topic: topics.input, ranges: ranges), backlog: backlog)
    }

    /// Commits the live group's position on both partitions: `end` = the high watermarks
    /// (caught up), otherwise 0 (everything is lag).
    private func commitLive(_ setup: Setup, atEnd: Bool) async throws {
        let committer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(client: WorkerTestSupport.client, groupID: setup.liveGroup, autoCommitInterval: nil),
            logger: WorkerTestSupport.logger)
        var positions: [KafkaTopicPartition] = []
        for partition: Int32 in 0..<2 {
            let high = try await committer.watermarks(topic: setup.live, partition: partition).high
            positions.append(KafkaTopicPartition(topic: setup.live, partition: partition, offset: atEnd ? high : 0))
        }
        try await committer.commit(positions)
        await committer.close()
    }

    private func configuration(_ setup: Setup) -> WorkerConfiguration {
        var configuration = WorkerTestSupport.configuration(setup.topics, group: "replay-\(UUID().uuidString.prefix(8))")
        configuration.metricsPort = nil
        configuration.maxWait = .milliseconds(2)
        configuration.replay = setup.plan
        var yield = LiveYield(group: setup.liveGroup, topics: [setup.live])
        yield.maxLag = 10
        yield.resumeLag = 0
        yield.interval = .milliseconds(200)
        configuration.liveYield = yield
        return configuration
    }

    func testReplayPausesWhileTheLiveGroupLagsAndFinishesOnceItCaughtUp() async throws {
        let model = try DuoGuardModel.load(path: try WorkerTestSupport.modelPath())
        let setup = try await setUp(backlog: 300, liveRecords: 40)
        try await commitLive(setup, atEnd: false)  // 40 behind: above the mark of 10
        let worker = ModerationWorker(configuration: configuration(setup), model: model, logger: WorkerTestSupport.logger)
        let run = Task { try await worker.run() }

        // Long enough for the replay's group join and several lag readings.
        try await Task.sleep(for: .seconds(8))
        let gate = try XCTUnwrap(worker.yieldGate)
        XCTAssertTrue(gate.status.paused, "paused while the live group is 40 behind")
        XCTAssertEqual(gate.status.liveLag, 40)
        XCTAssertTrue(gate.status.reason.contains("lag 40 > 10"), gate.status.reason)
        XCTAssertEqual(worker.answeredCount, 0, "the start-up reading closed the gate before intake took anything")
        XCTAssertTrue(worker.metrics.render().contains("duoguard_replay_yielding 1"))

        // The live workers catch up: the replay resumes and finishes its range.
        try await commitLive(setup, atEnd: true)
        try await BoundedWait.within(.seconds(180), "the resumed replay") { try await run.value }
        XCTAssertTrue(worker.replayCompleted)
        XCTAssertEqual(worker.answeredCount, setup.backlog)
        let status = gate.status
        XCTAssertFalse(status.paused)
        XCTAssertEqual(status.pauses, 1)
        XCTAssertGreaterThanOrEqual(status.pausedSeconds, 7)
        let metrics = worker.metrics.render()
        XCTAssertTrue(metrics.contains("duoguard_replay_yield_pauses_total 1"), metrics)
        XCTAssertTrue(metrics.contains("duoguard_replay_yielding 0"), metrics)
        let results = try WorkerTestSupport.decodeResults(try await WorkerTestSupport.read(setup.topics.output, count: setup.backlog))
        XCTAssertEqual(Set(results.map(\.requestID)).count, setup.backlog, "every backlog request answered once")
    }

    /// A pause comes at a batch boundary: with a deep queue full of taken records, a paused
    /// replay finishes the batch in the model and starts no other (without the gate before
    /// the batcher it would answer its whole queue first, which live would wait behind).
    func testAPauseStopsAtTheBatchBoundaryNotAfterTheQueue() async throws {
        let model = try DuoGuardModel.load(path: try WorkerTestSupport.modelPath())
        let setup = try await setUp(backlog: 4_000, liveRecords: 40)
        try await commitLive(setup, atEnd: true)  // caught up: the replay runs
        var configuration = configuration(setup)
        configuration.maxBatch = 8
        configuration.queueCapacity = 512
        let worker = ModerationWorker(configuration: configuration, model: model, logger: WorkerTestSupport.logger)
        let run = Task { try await worker.run() }
        let gate = try XCTUnwrap(worker.yieldGate)
        try await BoundedWait.within(.seconds(120), "the replay's first answers") {
            while worker.answeredCount == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        try await commitLive(setup, atEnd: false)  // the live group falls 40 behind
        try await BoundedWait.within(.seconds(30), "the pause") {
            while !gate.status.paused { try await Task.sleep(for: .milliseconds(20)) }
        }
        let atPause = Self.batchesDone(worker)
        XCTAssertGreaterThan(atPause, 0, "batches are counted (the replay answered before the pause)")
        XCTAssertLessThan(worker.answeredCount, setup.backlog, "paused before the end (a smaller backlog would not show it)")
        try await Task.sleep(for: .seconds(3))
        // Counted in batches the model finished, not in answers: an answer counts once its result
        // is acknowledged, which on a loaded machine can come seconds after its batch.
        let afterPause = Self.batchesDone(worker)
        // The batch in the model when the gate closed, and one taken just then: at most two
        // batches, whatever the queue holds.
        XCTAssertLessThanOrEqual(afterPause - atPause, 2, "\(afterPause - atPause) batches finished while paused")
        try await Task.sleep(for: .seconds(1))
        XCTAssertEqual(Self.batchesDone(worker), afterPause, "nothing more while paused")

        try await commitLive(setup, atEnd: true)
        try await BoundedWait.within(.seconds(300), "the resumed replay") { try await run.value }
        XCTAssertTrue(worker.replayCompleted)
        XCTAssertEqual(worker.answeredCount, setup.backlog)
        XCTAssertEqual(gate.status.pauses, 1)
    }

    /// A pause lasts its minimum even when the next reading already shows the live group caught
    /// up (the lag is no finer than the live commits), and the replay then finishes its range.
    func testAPauseLastsItsMinimumBeforeTheReplayResumes() async throws {
        let model = try DuoGuardModel.load(path: try WorkerTestSupport.modelPath())
        let setup = try await setUp(backlog: 200, liveRecords: 40)
        try await commitLive(setup, atEnd: false)  // 40 behind: the start-up reading pauses
        var configuration = configuration(setup)
        configuration.liveYield?.minimumPause = .seconds(4)
        let worker = ModerationWorker(configuration: configuration, model: model, logger: WorkerTestSupport.logger)
        let run = Task { try await worker.run() }
        let gate = try XCTUnwrap(worker.yieldGate)
        try await BoundedWait.within(.seconds(60), "the start-up reading's pause") {
            while !gate.status.paused { try await Task.sleep(for: .milliseconds(20)) }
        }
        let paused = ContinuousClock.now  // at most one poll after the gate closed
        try await commitLive(setup, atEnd: true)  // caught up at once: the next reading (200 ms) shows lag 0
        try await Task.sleep(for: .seconds(2))
        XCTAssertTrue(gate.status.paused, "still paused 2 s in: the minimum is 4 s")
        XCTAssertEqual(gate.status.liveLag, 0, "the readings saw the catch-up")
        XCTAssertEqual(worker.answeredCount, 0)
        try await BoundedWait.within(.seconds(30), "the resume") {
            while gate.status.paused { try await Task.sleep(for: .milliseconds(20)) }
        }
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - paused, .milliseconds(3_900), "resumed only after the minimum pause")
        XCTAssertTrue(gate.status.reason.contains("batches spaced"), gate.status.reason)
        try await BoundedWait.within(.seconds(180), "the resumed replay") { try await run.value }
        XCTAssertTrue(worker.replayCompleted)
        XCTAssertEqual(worker.answeredCount, setup.backlog)
        XCTAssertEqual(gate.status.pauses, 1)
    }

    /// Batches the model has finished (`duoguard_batch_seconds_count`, both kinds).
    private static func batchesDone(_ worker: ModerationWorker) -> Int {
        worker.metrics.render().split(separator: "\n")
            .filter { $0.hasPrefix("duoguard_batch_seconds_count") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
            .reduce(0) { $0 + Int($1) }
    }

    func testALiveGroupThatCannotBeReadIsAStartUpError() async throws {
        let model = try DuoGuardModel.load(path: try WorkerTestSupport.modelPath())
        let setup = try await setUp(backlog: 5, liveRecords: 5)  // the live group never commits
        let worker = ModerationWorker(configuration: configuration(setup), model: model, logger: WorkerTestSupport.logger)
        do {
            try await worker.run()
            XCTFail("a live group with no committed offsets must stop the replay at start")
        } catch let error as WorkerError {
            guard case .startup(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("no committed offset"), message)
        }
        var missingTopic = configuration(setup)
        missingTopic.liveYield?.topics = ["no-such-topic-\(UUID().uuidString.prefix(8))"]
        do {
            try await ModerationWorker(configuration: missingTopic, model: model, logger: WorkerTestSupport.logger).run()
            XCTFail("a missing live topic must stop the replay at start")
        } catch let error as WorkerError {
            XCTAssertTrue("\(error)".contains("does not exist"), "\(error)")
        }
        XCTAssertEqual(worker.answeredCount, 0)

        // The command line: the same refusal is exit status 1 with the reason; live-lag
        // options without --yield-to-group are a usage error (64).
        let arguments = [
            "replay", "--brokers", WorkerTestSupport.brokers, "--topic", setup.topics.input, "--from-beginning", "--to-end",
            "--output-topic", setup.topics.output, "--dlq-topic", setup.topics.deadLetters, "--model", try WorkerTestSupport.modelPath(),
        ]
        let (status, output) = try await ChildProcess.capture(
            try WorkerTestSupport.binary, arguments + ["--yield-to-group", setup.liveGroup, "--live-topic", setup.live],
            mergingStandardError: true)
        XCTAssertEqual(status, 1)
        XCTAssertTrue(String(decoding: output, as: UTF8.self).contains("no committed offset"), String(decoding: output, as: UTF8.self))
        let (usage, _) = try await ChildProcess.capture(try WorkerTestSupport.binary, arguments + ["--max-live-lag", "5"], mergingStandardError: true)
        XCTAssertEqual(usage, 64)
    }
}
