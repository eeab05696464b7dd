import Foundation
import Inference
import Kafka
import Logging
import ModerationProto
import Synchronization
import Tokenizer
import Tracing

@testable import Worker

/// One seeded schedule of the worker's real async shell: `RequestIntake`, `RequestPreparer`
/// (with the real Llama-3 tokenizer), `MicroBatcher`, `InferenceLoop`, `ResultSender`,
/// `RebalanceHandler`, the `RequestLedger` and the stop path (`WorkerStop`), wired as
/// `ModerationWorker.run` wires them, run as tasks on a `SeededExecutor`, against a scripted
/// consumer (`MessageSource` and `OffsetStore`), record sink, classifier and clock.
///
/// Each step the seed picks one thing to happen: a ready task runs to its next suspension, the
/// consumer fetches a record, the broker acknowledges one produced record (any one: acks come
/// out of order across partitions), the group assigns, revokes (the revoke may outlast its
/// acknowledgement timeout and the partition come back before the old cleanup ends) or loses a
/// partition, the clock moves to the next sleeper, a model batch fails, a stop begins, or the
/// next step of the stop runs (stop steps interleave with the tasks, as on threads). After
/// faults end it drives the shell to quiescence. Deliveries may fail retriably (the sender's
/// retry waits on the simulated clock, as a task on the seeded executor), and some schedules
/// carry poison records (bytes no decoder reads) that intake dead-letters. Checked after every step:
/// (a) no stored or committed position passes a record that is not answered;
/// (c) once faults stop, every partition reaches its end within `quietBound` steps;
/// (d) within an assignment, stored positions only grow;
/// (e) a stop ends within `quietBound` steps;
/// (h) a graceful stop that drained in time duplicates nothing: no record answered under the
///     assignment held at the stop lies at or above the position committed for it (with the
///     score cache too: its hits are answered at intake, above requests still queued, and
///     the stop keeps those queued ones rather than hand them back — `WorkerStop.abandonQueued`);
/// (i) every synchronous call admitted to the urgent lane gets its outcome by the end of the stop;
/// (j) no owner delivers a request's result or dead letter twice (one assignment, one topic),
///     and once every partition is at its end, every poison record was dead-lettered.
/// (b: every record read is answered or re-read by the partition's next reader, is (a) at the
/// end; (f), replay's done, stays with the rule-level simulation.)
final class ShellSimulation: @unchecked Sendable {
    struct Options {
        /// The stop order before bebd035 (`WorkerStop.handsBackBeforeClosing`).
        var plantOldStopOrder = false
        /// The hand-back rule before the cache-hit fix: every queued request is handed back,
        /// even one below a request answered at intake (`WorkerStop.handsBackBelowAnswers`).
        var plantHandBackBelowAnswers = false
        /// Whether the preparer has a score cache; `nil`: the seed decides (half the schedules).
        var scoreCache: Bool? = nil
    }

    struct Violation: Error, CustomStringConvertible {
        var seed: UInt64
        var step: Int
        var rule: String
        var message: String
        var trace: [String]

        var description: String {
            "shell simulation seed \(seed), step \(step): invariant (\(rule)) violated: \(message)\n"
                + "last steps (replay: DUOGUARD_SHELL_SEED=\(seed)):\n  " + trace.suffix(30).joined(separator: "\n  ")
        }
    }

    static let topic = "requests"
    /// Steps allowed from the end of faults to every partition at its end, and for a stop.
    static let quietBound = 20_000

    let seed: UInt64
    let options: Options
    private var random: SimulationRandom
    private(set) var step = 0
    private(set) var trace: [String] = []
    private var violation: Violation?

    // The fakes.
    private let executor = SeededExecutor()
    private let clock = SimulatedClock()
    private let consumer: SimulatedConsumer
    private let sink = SimulatedSink()
    private let classifier = SimulatedClassifier()

    // The shell.
    private let ledger = RequestLedger()
    private let state = WorkerState()
    private let batcher: MicroBatcher<BatchItem>
    private let budget = InFlightBudget(limit: 1 << 20)
    private let stop: WorkerStop
    private let finished = Mutex<Bool?>(nil)  // the drain's outcome once the stop has ended
    private var stopSteps: [@Sendable () -> Void] = []
    private var stopBegan = false
    private var eventsAfterStop = false
    /// Whether the group may still move once a stop began (the revoke at close, a loss).
    private let eventsDuringStop: Bool
    private var heldAtStop: [UInt64?] = []
    /// Coverage: retriable delivery failures drawn, and dead letters acknowledged.
    var deliveryFailures: Int { sink.failureCount }
    var deadLettersDelivered: Int { sink.deliveredCount(to: "dead") }
    /// Coverage: the stop began with the batcher's queue full (an intake may wait to add to it).
    private(set) var stopFoundQueueFull = false
    private let partitions: Int
    private let ends: [Int64]
    /// Poison records per partition (dead-lettered at intake).
    private let poison: [Set<Int64>]
    /// Percent of fault-phase broker answers that are retriable failures (0 in some schedules).
    private let deliveryFailurePercent: Int
    /// Whether this schedule's preparer has a score cache (texts repeat, so hits happen).
    private let cached: Bool
    /// Synchronous calls: admitted to the batcher's urgent lane, and given their outcome.
    private var callsAdmitted = 0
    private let callsFinished = Counter()

    /// A count shared with callbacks.
    private final class Counter: Sendable {
        private let value = Mutex(0)
        func add() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    /// The tokenizer every schedule shares (loading it is the costly part).
    static let tokenizer: Tokenizer? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try? Tokenizer(contentsOf: root.appendingPathComponent("Tests/Fixtures/generated/llama3.2/tokenizer.json"))
    }()

    private static let quiet: Logger = {
        var logger = Logger(label: "shell-simulation")
        logger.logLevel = .critical
        return logger
    }()

    init(seed: UInt64, options: Options = Options()) {
        self.seed = seed
        self.options = options
        random = SimulationRandom(seed: seed)
        partitions = Int.random(in: 1...3, using: &random)
        var ends: [Int64] = []
        for _ in 0..<partitions { ends.append(Int64.random(in: 1...12, using: &random)) }
        self.ends = ends
        eventsDuringStop = random.chance(30)
        let drawn = random.chance(50)
        cached = options.scoreCache ?? drawn
        // Half the schedules have poison records, half have delivery failures.
        let poisoned = random.chance(50)
        var poison: [Set<Int64>] = []
        for end in ends {
            var offsets = Set<Int64>()
            for offset in 0..<end where poisoned {
                if random.chance(15) { offsets.insert(offset) }
            }
            poison.append(offsets)
        }
        self.poison = poison
        deliveryFailurePercent = random.chance(50) ? Int.random(in: 5...40, using: &random) : 0
        consumer = SimulatedConsumer(topic: Self.topic, ends: ends, poison: poison)
        batcher = MicroBatcher(
            limits: .init(
                tokenBudget: 100_000, maxItems: Int.random(in: 1...4, using: &random), maxWait: .zero,
                capacity: Int.random(in: 1...3, using: &random)))
        var stop = WorkerStop(ledger: ledger, batcher: batcher, budget: budget, metrics: WorkerMetrics(), yieldGate: nil, logger: Self.quiet)
        stop.handsBackBeforeClosing = options.plantOldStopOrder
        stop.handsBackBelowAnswers = options.plantHandBackBelowAnswers
        self.stop = stop
    }

    // MARK: running

    /// Runs the schedule; the first invariant broken, or nil.
    func run() -> Violation? {
        guard let tokenizer = Self.tokenizer else {
            return Violation(seed: seed, step: 0, rule: "setup", message: "no tokenizer: run scripts/prepare-tokenizers.sh", trace: [])
        }
        start(tokenizer: tokenizer)
        let faultSteps = Int.random(in: 20...400, using: &random)
        while step < faultSteps && violation == nil && finished.withLock({ $0 }) == nil {
            faultStep()
            check()
        }
        if violation == nil { settle() }
        // Leave nothing suspended for the next schedule: end the stop if the check above failed.
        if finished.withLock({ $0 }) == nil {
            if !stopBegan { beginStop() }
            consumer.close()
            var spins = 0
            while finished.withLock({ $0 }) == nil && spins < Self.quietBound {
                spins += 1
                for action in stopSteps { action() }
                stopSteps = []
                if !executor.runJob(at: 0) {
                    if !sink.resolve(at: 0) { _ = clock.advanceToNextDeadline() }
                }
            }
        }
        return violation
    }

    private func start(tokenizer: Tokenizer) {
        var identity = ModerationProto.ModelIdentity()
        identity.name = "simulated"
        let deadLetters = DeadLetterComposer(topic: "dead")
        let tracing = WorkerTracing(tracer: NoOpTracer(), group: "g")
        let metrics = WorkerMetrics()
        let state = state
        let sender = ResultSender(
            producer: sink, ledger: ledger, offsets: consumer, budget: budget, deadLetters: deadLetters, metrics: metrics,
            counts: WorkerCounts(), logger: Self.quiet, maxBackoff: .milliseconds(50), tracing: tracing, clock: clock,
            retryExecutor: executor
        ) { reason in state.fail(reason) }
        let scoreCache = cached
            ? ScoreCache(capacityBytes: 1 << 16, digester: ScoreDigester(contentHash: "simulated", quantization: "none", scoring: TextScoring()))
            : nil
        let preparer = RequestPreparer(
            maxRequestBytes: 4_096, maxTextBytes: 1_000, replyTo: .denyAll, envelope: EnvelopeOptions(), scoring: TextScoring(),
            tokenizer: tokenizer,
            results: ResultComposer(outputTopic: "results", workerID: "sim", model: identity, categoryNames: DuoGuardModel.categoryNames),
            deadLetters: deadLetters, topics: nil, scoreCache: scoreCache)
        let intake = RequestIntake(
            consumer: consumer, ledger: ledger, batcher: batcher, budget: budget, preparer: preparer, sender: sender, metrics: metrics,
            state: state, replay: nil, tracing: tracing, logText: false, logger: Self.quiet)
        var inference = InferenceLoop(
            model: classifier, batcher: batcher, preparer: preparer, sender: sender, thresholds: CategoryThresholds(), metrics: metrics,
            logger: Self.quiet, tracing: tracing)
        inference.runsModelInline = true
        let loop = inference
        let stop = stop
        let handler = RebalanceHandler(
            consumer: consumer, ledger: ledger, metrics: metrics, drainTimeout: .seconds(10), commitTimeout: .seconds(1), logger: Self.quiet,
            abandonQueued: { stop.abandonQueued($0) }, cancelRetries: { sender.cancelRetries(of: $0) }, isStopping: { state.isStopping },
            clock: clock)
        state.markRunning()
        // ModerationWorker.run's task group and the stop after it, in the same order.
        Task(executorPreference: executor) { [self] in
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await handler.run() }
                group.addTask { await loop.run() }
                group.addTask { await intake.run() }
                await group.next()
                state.beginStopping()
                var drained = false
                if state.fatalError == nil {
                    drained = await stop.waitForInFlight(within: .seconds(10), clock: clock)
                }
                sender.cancelRetries(of: nil)
                try? await consumer.commit(timeout: .seconds(1))
                consumer.close()
                group.cancelAll()
                await group.waitForAll()
                self.finished.withLock { $0 = drained }
            }
        }
    }

    /// One step of the fault phase: anything may happen.
    private func faultStep() {
        step += 1
        classifier.failNext = random.chance(5)
        // A stop is drawn more often while the batcher's queue is full: the moment an intake
        // may be waiting to add a registered request (where bebd035's race lived).
        if !stopBegan && batcher.count >= batcher.limits.capacity && random.chance(10) {
            beginStop()
            return
        }
        let roll = Int.random(in: 0..<100, using: &random)
        switch roll {
        case 0..<3:
            syncCall()
        case 3..<45:
            runJob()
        case 45..<60:
            fetch()
        case 60..<75:
            deliver()
        case 75..<80:
            if clock.sleeperCount > 0 {
                clock.advanceToNextDeadline()
                note("clock moves to \(clock.now.offset)")
            } else {
                runJob()
            }
        case 80..<90:
            groupEvent()
        case 90..<92:
            if !stopBegan { beginStop() } else { runStopStep() }
        default:
            if !stopSteps.isEmpty { runStopStep() } else { runJob() }
        }
    }

    /// Faults end: every open revoke times out, every partition is assigned (unless stopping),
    /// and the shell must reach every partition's end, then stop, within the bounds.
    private func settle() {
        classifier.failNext = false
        if !stopBegan {
            for partition in 0..<partitions {
                if consumer.revokeOpen(partition) { note("revoke of \(partition) times out"); consumer.finishRevoke(partition) }
                if !consumer.isHeld(partition) { assign(partition) }
            }
            var quietSteps = 0
            while !atEnd() && violation == nil {
                quietSteps += 1
                guard quietSteps <= Self.quietBound else {
                    fail("c", "partitions not at their ends \(Self.quietBound) steps after faults ended: stored \(consumer.storedPositions), ends \(ends)")
                    return
                }
                guard quietStep() else {
                    fail("c", "stalled after faults ended: nothing can run, stored \(consumer.storedPositions), ends \(ends)")
                    return
                }
                check()
            }
            if violation != nil { return }
            beginStop()
        }
        var stopSteps = 0
        while finished.withLock({ $0 }) == nil && violation == nil {
            stopSteps += 1
            guard stopSteps <= Self.quietBound else {
                fail("e", "the stop did not end within \(Self.quietBound) steps")
                return
            }
            if !self.stopSteps.isEmpty && random.chance(50) {
                runStopStep()
            } else if !quietStep() {
                if !self.stopSteps.isEmpty {
                    runStopStep()
                } else {
                    fail("e", "the stop stalled: nothing can run")
                    return
                }
            }
            check()
        }
        if violation == nil && atEnd() {
            for partition in 0..<partitions {
                if let missed = poison[partition].sorted().first(where: { !sink.delivered(partition: partition, offset: $0, to: "dead") }) {
                    fail("j", "poison record \(partition)/\(missed) passed without a dead letter")
                    break
                }
            }
        }
        if violation == nil && callsFinished.count != callsAdmitted {
            fail("i", "\(callsAdmitted) synchronous calls admitted, \(callsFinished.count) given an outcome by the end of the stop")
        }
        if violation == nil { checkStopDuplicatesNothing() }
    }

    /// Progress without faults: a task runs, or else the broker acknowledges, or else a record
    /// is fetched, or else time moves. False when nothing can happen.
    private func quietStep() -> Bool {
        step += 1
        if executor.readyCount > 0 {
            runJob()
        } else if sink.pendingCount > 0 {
            deliver(failing: false)
        } else if let partition = consumer.fetchable().first, !stopBegan {
            fetch(partition)
        } else if clock.advanceToNextDeadline() {
            note("clock moves to \(clock.now.offset)")
        } else {
            return false
        }
        return true
    }

    private func atEnd() -> Bool {
        (0..<partitions).allSatisfy { consumer.storedPosition($0) == ends[$0] }
    }

    // MARK: actions

    private func runJob() {
        let ready = executor.readyCount
        guard ready > 0 else { return }
        let index = Int.random(in: 0..<ready, using: &random)
        note("run task \(index) of \(ready)")
        executor.runJob(at: index)
    }

    private func fetch() {
        let fetchable = consumer.fetchable()
        guard !fetchable.isEmpty else { return runJob() }
        fetch(random.pick(fetchable))
    }

    /// The consumer hands over what one fetch brought: one to four records of the partition
    /// (so intake may fill the batcher's queue in one run and wait on it, as it does under load).
    private func fetch(_ partition: Int) {
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            guard let record = consumer.fetch(partition) else { break }
            note("fetch \(partition)/\(record.offset) epoch \(record.assignmentEpoch)")
        }
    }

    /// The broker answers one produced record: an acknowledgement, or in the fault phase
    /// (`failing`) sometimes a retriable failure (the sender retries after its backoff).
    private func deliver(failing: Bool = true) {
        let pending = sink.pendingCount
        guard pending > 0 else { return runJob() }
        let index = Int.random(in: 0..<pending, using: &random)
        if failing && deliveryFailurePercent > 0 && random.chance(deliveryFailurePercent) {
            note("delivery of record \(index) of \(pending) fails (retriable)")
            sink.resolve(at: index, failing: true)
        } else {
            note("broker acknowledges record \(index) of \(pending)")
            sink.resolve(at: index)
        }
    }

    private func groupEvent() {
        if stopBegan {
            // Most schedules keep the group still once stopping, so (h) has something to check.
            guard eventsDuringStop else { return runJob() }
            eventsAfterStop = true
        }
        let partition = Int.random(in: 0..<partitions, using: &random)
        if consumer.revokeOpen(partition) && random.chance(50) {
            note("revoke of \(partition) outlasts its acknowledgement timeout")
            consumer.finishRevoke(partition)
        } else if !consumer.isHeld(partition) {
            assign(partition)
        } else if consumer.currentEpoch(partition) != nil {
            if random.chance(80) {
                note("revoke \(partition)")
                consumer.revoke(partition)
            } else {
                note("lose \(partition)")
                consumer.lose(partition)
            }
        } else {
            runJob()
        }
    }

    /// A synchronous caller (HTTP or gRPC) adds its request to the urgent lane; its outcome
    /// comes through the batch, never through the ledger (it has no record to answer).
    private func syncCall() {
        guard let tokenizer = Self.tokenizer else { return }
        let prepared = TextScoring().prepare("synchronous call \(callsAdmitted)", tokenizer: tokenizer)
        let finished = callsFinished
        let call = SyncCall(prepared: prepared, deadline: nil, enqueued: .now) { _ in finished.add() }
        if batcher.enqueueUrgent(.call(call), tokens: prepared.tokenCount) {
            callsAdmitted += 1
            note("synchronous call \(callsAdmitted) admitted")
        } else {
            note("synchronous call refused (closed)")
        }
    }

    private func assign(_ partition: Int) {
        let epoch = consumer.assign(partition)
        note("assign \(partition) (epoch \(epoch), from \(consumer.committedPosition(partition)))")
    }

    private func beginStop() {
        note("stop begins")
        stopBegan = true
        stopFoundQueueFull = batcher.count >= batcher.limits.capacity
        heldAtStop = (0..<partitions).map { consumer.currentEpoch($0) }
        // `state.beginStopping()` would run the steps at once; here each is a step of its own.
        state.beginStopping()
        stopSteps = stop.steps
    }

    private func runStopStep() {
        guard !stopSteps.isEmpty else { return runJob() }
        note("stop step \(stop.steps.count - stopSteps.count + 1)")
        stopSteps.removeFirst()()
    }

    private func note(_ entry: String) {
        trace.append("\(step): \(entry)")
        if trace.count > 200 { trace.removeFirst(100) }
    }

    // MARK: invariants

    private func fail(_ rule: String, _ message: String) {
        guard violation == nil else { return }
        violation = Violation(seed: seed, step: step, rule: rule, message: message, trace: trace)
    }

    private func check() {
        if let problem = consumer.takeProblem() { return fail("d", problem) }
        if let problem = sink.takeProblem() { return fail("j", problem) }
        for partition in 0..<partitions {
            for (what, position) in [("stored", consumer.storedPosition(partition)), ("committed", consumer.committedPosition(partition))] {
                guard position > 0 else { continue }
                if let missing = (0..<position).first(where: { !sink.answered(partition: partition, offset: $0) }) {
                    return fail("a", "\(what) position \(position) of partition \(partition) passes unanswered record \(missing)")
                }
            }
        }
    }

    /// (h): after a graceful stop that drained in time, with no group event after it began,
    /// nothing answered under the assignment held at the stop lies at or above its commit.
    private func checkStopDuplicatesNothing() {
        guard finished.withLock({ $0 }) == true, state.fatalError == nil, !eventsAfterStop else { return }
        for partition in 0..<partitions {
            guard let epoch = heldAtStop[partition] else { continue }
            let committed = consumer.committedPosition(partition)
            if let above = sink.answeredOffsets(partition: partition, epoch: epoch).first(where: { $0 >= committed }) {
                return fail(
                    "h",
                    "record \(partition)/\(above) was answered under epoch \(epoch) but the stop committed \(committed): "
                        + "it is answered again after restart (a duplicate after a graceful stop)")
            }
        }
    }
}
