import Foundation
import Kafka

@testable import Worker

/// One seeded schedule of the worker core against a fake consumer group, broker, model and
/// clock. The core parts are the real ones — `RequestLedger` (register, answered-and-store,
/// hand back, disown, forget, drained, replay's answered-through), `AssignmentEpochs` (which
/// assignment a group event ends), `DeliveryDecision` (retry, dead-letter, smaller, fatal),
/// `ReplayPlan` and `DeadLetterComposer` — driven in the order the worker's async shells drive
/// them (`RequestIntake`, `InferenceLoop`, `ResultSender`, `RebalanceHandler`, the shutdown of
/// `ModerationWorker`).
///
/// Deterministic by construction: one thread, no tasks, a tick counter for the clock, every
/// choice drawn from `SimulationRandom(seed)` over arrays in a fixed order (never over a Set or
/// Dictionary, whose order Swift randomises per process). So a seed replays exactly, and the
/// trace printed with a violation is the schedule that produced it.
///
/// Invariants checked after every step (issue 17): (a) no stored or committed position passes
/// a request that was never answered; (b) every request read is answered or left above the
/// committed position for the partition's next reader; (c) once faults stop, every partition
/// reaches its end within `quietSteps` (no silent stall); (d) within an epoch, stored
/// positions only grow; (e) shutdown ends within its bound; (f) replay reports done only
/// after every record of its range is answered; (g) after a clean graceful stop the commit
/// holds every position the ledger handed out (nothing answered twice after a clean stop).
final class WorkerSimulation: @unchecked Sendable {
    struct Options {
        var ledgerFaults: RequestLedger.Faults = []
        /// Issue 17 problem 2 put back: replay "done" = every range decided and nothing pending.
        var legacyReplayDone = false
        /// The store as it was before the simulator found seed 5750: any assigned partition
        /// took the position, whichever assignment reached it.
        var storeIntoAnyAssignment = false
    }

    struct Violation: Error, CustomStringConvertible {
        var seed: UInt64
        var step: Int
        var rule: String
        var detail: String
        var trace: [String]

        /// The group's history (assignments, revokes, the handler, stops), then the last steps.
        var description: String {
            if ProcessInfo.processInfo.environment["DUOGUARD_SIM_FULL_TRACE"] != nil {
                return "seed \(seed) violates (\(rule)) at step \(step): \(detail)\n    " + trace.joined(separator: "\n    ")
            }
            let group = trace.filter { line in ["assign", "revoke", "lost", "handler", "stop", "fatal"].contains { line.contains($0) } }
            return "seed \(seed) violates (\(rule)) at step \(step): \(detail)\n  group events:\n    "
                + group.suffix(40).joined(separator: "\n    ") + "\n  last steps:\n    " + trace.suffix(30).joined(separator: "\n    ")
        }
    }

    private struct ConsumerPartition {
        var assigned = false
        /// The epoch of the current assignment; nil once a revoke began.
        var epoch: UInt64?
        var count: UInt64 = 0
        var position: Int64 = 0
        var paused = false
        var stored: Int64?
        var revoking = false
    }

    private enum Event {
        case assigned([Int])
        case revoked([Int], ack: Int)
        case lost([Int])
    }

    private enum HandlerPhase {
        case idle
        case draining(Set<RequestLedger.Assignment>, deadline: Int, ack: Int)
        case committing(Set<RequestLedger.Assignment>, doneAt: Int, ack: Int)
    }

    private struct Item {
        var message: KafkaConsumerMessage
        var deadline: Int?
    }

    private enum Outcome {
        case ack, retriable, permanent, fatal
    }

    private struct Delivery {
        var source: KafkaConsumerMessage
        var outgoing: Outgoing
        var attempt: Int
        var readyAt: Int
        var outcome: Outcome
        /// Tick of the first retriable failure of this record (the age bound counts from it).
        var failingSince: Int?
        /// A retry waiting for its backoff until this tick: a revoke, loss or stop cancels it.
        var waitingUntil: Int?
    }

    private struct RequestKey: Hashable {
        var partition: Int32
        var epoch: UInt64
        var offset: Int64
    }

    private struct ConsumerRevoke {
        var partitions: [Int]
        var ack: Int
        var deadline: Int
    }

    private enum StopPhase {
        case running
        case draining(deadline: Int, began: Int)
        case closed
    }

    // MARK: the schedule's shape, drawn from the seed

    let seed: UInt64
    private var random: SimulationRandom
    private let options: Options
    private let tps: [KafkaTopicPartition]
    private let ends: [Int64]
    private let bases: [Int64]
    private let drainTimeout: Int
    private let revokeTimeout: Int
    private let longCommit: Int
    private let faultSteps: Int
    private let quietSteps = 1_200
    private let stopAt: Int?
    private let fatalAllowed: Bool
    /// `--max-retry-age`, in ticks.
    private let maxRetryAge: Int
    private let replay: ReplayPlan?
    private let replayEnds: [KafkaTopicPartition: Int64]
    private let ledger: RequestLedger
    private let deadLetters = DeadLetterComposer(topic: "dlq")

    // MARK: state

    private(set) var step = 0
    /// Steps from the end of faults until every partition reached its end (the (c) bound's margin).
    private(set) var quietStepsUsed = 0
    private var now = 0
    private var trace: [String] = []
    private var consumer: [ConsumerPartition]
    private var committed: [Int64]
    private var answeredSets: [Set<Int64>]
    private var answeredPrefix: [Int64]
    private var events: [Event] = []
    private var handler = HandlerPhase.idle
    private var epochs = AssignmentEpochs()
    private var consumerRevokes: [ConsumerRevoke] = []
    private var acked: [Bool] = []
    private var holding: KafkaConsumerMessage?
    private var queue: [Item] = []
    private var batch: (items: [Item], doneAt: Int, fails: Bool)?
    private var deliveries: [Delivery] = []
    private var remaining: [RequestKey: Int] = [:]
    /// Requests answered or handed back (exactly one of the two, once: `InFlightRequest.settle`).
    private var settled: Set<RequestKey> = []
    private var lastStore: [RequestKey: Int64] = [:]
    private var stop = StopPhase.running
    private var fatal = false
    private var replayDone = false
    private var violation: Violation?

    /// Whether steps are written to the trace (off for speed; a violation re-runs its seed with it on).
    private let tracing: Bool

    init(seed: UInt64, options: Options = Options(), tracing: Bool = false) {
        self.seed = seed
        self.options = options
        self.tracing = tracing
        var random = SimulationRandom(seed: seed)
        let count = Int.random(in: 1...3, using: &random)
        tps = (0..<count).map { KafkaTopicPartition(topic: "in", partition: Int32($0)) }
        let lengths = (0..<count).map { _ in Int64.random(in: 1...14, using: &random) }
        if random.chance(25) {
            let starts = lengths.map { Int64.random(in: 0...$0, using: &random) }
            let stops = zip(starts, lengths).map { Int64.random(in: $0...$1, using: &random) }
            replay = ReplayPlan(
                topic: "in", ranges: Dictionary(uniqueKeysWithValues: (0..<count).map { (Int32($0), starts[$0]..<stops[$0]) }))
            bases = starts
            ends = stops
        } else {
            replay = nil
            bases = Array(repeating: 0, count: count)
            ends = lengths
        }
        drainTimeout = Int.random(in: 5...30, using: &random)
        revokeTimeout = drainTimeout + 5
        longCommit = revokeTimeout + Int.random(in: 1...20, using: &random)
        faultSteps = Int.random(in: 0...250, using: &random)
        stopAt = random.chance(30) ? Int.random(in: 0...(faultSteps + 100), using: &random) : nil
        fatalAllowed = random.chance(15)
        maxRetryAge = Int.random(in: 3...60, using: &random)
        replayEnds = replay?.ends ?? [:]
        consumer = Array(repeating: ConsumerPartition(), count: count)
        committed = bases
        answeredSets = Array(repeating: [], count: count)
        answeredPrefix = bases
        self.random = random
        let box = DeferredStores()
        ledger = RequestLedger(faults: options.ledgerFaults, deferStore: { box.add($0) })
        deferredBox = box
    }

    /// The ledger's late stores (fault `.storeAfterUnlock`), run as steps of their own.
    private final class DeferredStores: @unchecked Sendable {
        var items: [@Sendable () -> Void] = []
        func add(_ store: @escaping @Sendable () -> Void) { items.append(store) }
    }
    private let deferredBox: DeferredStores

    /// Runs the schedule to its end; the first violation, if any.
    func run() -> Violation? {
        // Start: the group assigns every partition (replay starts at its range, as `connect` does).
        assign(Array(0..<tps.count))
        while violation == nil {
            if case .closed = stop { break }
            if step >= faultSteps + quietSteps {
                fail("c", "no end after \(step) steps: \(stateSummary())")
                break
            }
            if step == stopAt { beginStop(fatal: false) }
            if !fireTimers() { act() }
            step += 1
            checkEveryStep()
            if violation == nil, step > faultSteps, case .running = stop, replay == nil, allAtEnd() {
                quietStepsUsed = step - faultSteps
                beginStop(fatal: false)
            }
        }
        if violation == nil { checkEnd() }
        if var first = violation, !tracing {
            // The same seed replays exactly: run it again with the trace on.
            if let traced = WorkerSimulation(seed: seed, options: options, tracing: true).run() { return traced }
            first.detail += " (the traced re-run did not reproduce it: the simulator is not deterministic)"
            return first
        }
        return violation
    }

    private var faulty: Bool { step < faultSteps }
    private var stopping: Bool {
        if case .running = stop { return false }
        return true
    }

    // MARK: choosing a step

    private func act() {
        var choices: [(weight: Int, action: () -> Void)] = [(3, tick)]
        if holding == nil, !stopping, !fetchable().isEmpty { choices.append((4, fetch)) }
        if holding != nil { choices.append((4, admit)) }
        if batch == nil, !queue.isEmpty { choices.append((3, startBatch)) }
        if let batch, now >= batch.doneAt { choices.append((3, finishBatch)) }
        if deliveries.contains(where: { $0.readyAt <= now }) { choices.append((5, deliver)) }
        if handlerCanStep() { choices.append((3, handlerStep)) }
        if consumerRevokes.contains(where: { acked[$0.ack] }) { choices.append((3, consumerUnassign)) }
        if !deferredBox.items.isEmpty { choices.append((2, runDeferred)) }
        if !stopping { choices.append((faulty ? 1 : 2, groupChange)) }
        choices.append((1, autoCommit))
        if case .draining = stop, ledger.unansweredCount() == 0 { choices.append((3, finishStop)) }
        let total = choices.reduce(0) { $0 + $1.weight }
        var roll = Int.random(in: 0..<total, using: &random)
        for choice in choices {
            if roll < choice.weight {
                choice.action()
                return
            }
            roll -= choice.weight
        }
    }

    /// Timeouts fire at their deadline (the real waits are bounded by the clock): the
    /// consumer's wait for a revoke acknowledgement, the handler's drain, the shutdown drain
    /// (at once after a fatal error). True when one fired (it is this step).
    private func fireTimers() -> Bool {
        if case .draining(let deadline, _) = stop, fatal || now >= deadline {
            finishStop()
            return true
        }
        if case .draining(_, let deadline, _) = handler, now >= deadline {
            handlerStep()
            return true
        }
        if consumerRevokes.contains(where: { now >= $0.deadline }) {
            consumerUnassign()
            return true
        }
        return false
    }

    private func note(_ text: @autoclosure () -> String) {
        guard tracing else { return }
        trace.append("#\(step) t\(now) \(text())")
    }

    private func tick() {
        now += 1
    }

    // MARK: the consumer group (fake)

    private func fetchable() -> [Int] {
        (0..<tps.count).filter { consumer[$0].assigned && consumer[$0].epoch != nil && !consumer[$0].paused && consumer[$0].position < lengthOfLog($0) }
    }

    /// Records in the log (a replay's log goes on past its range).
    private func lengthOfLog(_ index: Int) -> Int64 { replay == nil ? ends[index] : ends[index] + 2 }

    private func assign(_ indices: [Int]) {
        guard !indices.isEmpty else { return }
        for index in indices {
            consumer[index].assigned = true
            consumer[index].count += 1
            consumer[index].epoch = consumer[index].count
            consumer[index].paused = false
            consumer[index].revoking = false
            // `initialOffsets` apply at every assignment of a replay; otherwise the commit.
            consumer[index].position = replay == nil ? committed[index] : bases[index]
        }
        events.append(.assigned(indices))
        note("assign \(indices) epochs \(indices.map { consumer[$0].count })")
    }

    private func groupChange() {
        let free = (0..<tps.count).filter { !consumer[$0].assigned }
        let owned = (0..<tps.count).filter { consumer[$0].assigned && !consumer[$0].revoking }
        if !faulty {
            assign(free)
            return
        }
        switch Int.random(in: 0..<3, using: &random) {
        case 0 where !owned.isEmpty:
            let chosen = owned.filter { _ in random.chance(60) }
            guard !chosen.isEmpty else { return }
            for index in chosen {
                consumer[index].epoch = nil
                consumer[index].revoking = true
            }
            if let held = holding, chosen.contains(Int(held.partition)) { note("(held \(held.offset) now stale)") }
            let ack = acked.count
            acked.append(false)
            consumerRevokes.append(ConsumerRevoke(partitions: chosen, ack: ack, deadline: now + revokeTimeout))
            events.append(.revoked(chosen, ack: ack))
            note("revoke \(chosen) ack#\(ack)")
        case 1 where !owned.isEmpty:
            let index = random.pick(owned)
            consumer[index] = ConsumerPartition(count: consumer[index].count)
            events.append(.lost([index]))
            note("lost [\(index)]")
        default:
            assign(free)
        }
    }

    /// The consumer's wait for the revoke ended (acknowledged, or timed out): unassign.
    private func consumerUnassign() {
        guard let at = consumerRevokes.firstIndex(where: { acked[$0.ack] || now >= $0.deadline }) else { return }
        let revoke = consumerRevokes.remove(at: at)
        for index in revoke.partitions where consumer[index].revoking {
            consumer[index] = ConsumerPartition(count: consumer[index].count)
        }
        note("unassign \(revoke.partitions) (\(acked[revoke.ack] ? "acknowledged" : "ack timed out"))")
    }

    private func autoCommit() {
        commit("auto")
    }

    private func commit(_ why: String) {
        let before = committed
        for index in 0..<tps.count where consumer[index].assigned {
            if let stored = consumer[index].stored { committed[index] = stored }
        }
        if why != "auto" || committed != before { note("commit (\(why)) \(committed)") }
    }

    // MARK: intake

    private func fetch() {
        let index = random.pick(fetchable())
        let offset = consumer[index].position
        consumer[index].position += 1
        let message = KafkaConsumerMessage(
            topic: "in", partition: Int32(index), offset: offset, value: [1], assignmentEpoch: consumer[index].epoch ?? 0)
        if let replay {
            switch replay.decide(partition: message.partition, offset: offset) {
            case .skip:
                return
            case .end:
                consumer[index].paused = true
                return
            case .answer(let last):
                if last { consumer[index].paused = true }
            }
        }
        holding = message
        note("fetch \(index)/\(offset)@\(message.assignmentEpoch)")
    }

    private func admit() {
        guard let message = holding else { return }
        holding = nil
        if stopping {
            note("drop \(message.partition)/\(message.offset): stopping")
            return
        }
        let index = Int(message.partition)
        guard consumer[index].epoch == message.assignmentEpoch, ledger.register(message) else {
            note("stale \(index)/\(message.offset)@\(message.assignmentEpoch)")
            return
        }
        note("register \(index)/\(message.offset)@\(message.assignmentEpoch)")
        if random.chance(15) {
            // Answered at once (poison, refused reply-to): a dead letter and an error result.
            let reason = DeadLetterReason(code: "INVALID", message: "simulated")
            var outgoing = [Outgoing(role: .deadLetter(reason, .whole), message: deadLetters.compose(for: message, reason: reason))]
            if random.chance(50) { outgoing.append(result(for: message)) }
            send(outgoing, for: message)
        } else {
            queue.append(Item(message: message, deadline: random.chance(10) ? now + Int.random(in: 0...20, using: &random) : nil))
        }
    }

    // MARK: inference

    private func startBatch() {
        let count = min(queue.count, Int.random(in: 1...4, using: &random))
        let taken = Array(queue.prefix(count))
        queue.removeFirst(count)
        var live: [Item] = []
        for item in taken {
            if let deadline = item.deadline, deadline < now {
                note("expired \(item.message.partition)/\(item.message.offset)")
                send([result(for: item.message)], for: item.message)
            } else {
                live.append(item)
            }
        }
        guard !live.isEmpty else { return }
        let slow = faulty && random.chance(10)
        let duration = slow ? Int.random(in: 10...40, using: &random) : Int.random(in: 0...3, using: &random)
        batch = (live, now + duration, faulty && random.chance(10))
        note("batch \(live.map { "\($0.message.partition)/\($0.message.offset)" }) for \(duration)")
    }

    private func finishBatch() {
        guard let running = batch else { return }
        batch = nil
        note("batch done\(running.fails ? " (model failed: internal results)" : "")")
        for item in running.items { send([result(for: item.message)], for: item.message) }
    }

    private func result(for message: KafkaConsumerMessage) -> Outgoing {
        Outgoing(role: .result, message: KafkaProducerMessage(topic: "out", value: [2]))
    }

    // MARK: sending (ResultSender's rules)

    private func send(_ outgoing: [Outgoing], for source: KafkaConsumerMessage) {
        remaining[key(source)] = outgoing.count
        for item in outgoing { produce(item, source: source, attempt: 1) }
    }

    private func produce(
        _ item: Outgoing, source: KafkaConsumerMessage, attempt: Int, after delay: Int = 0, failingSince: Int? = nil, retry: Bool = false
    ) {
        var outcome = Outcome.ack
        if faulty && !stopping {
            let roll = Int.random(in: 0..<100, using: &random)
            if roll < 12 {
                outcome = .retriable
            } else if roll < 17 {
                outcome = .permanent
            } else if roll < 18 && fatalAllowed {
                outcome = .fatal
            }
        }
        let latency = random.chance(10) ? Int.random(in: 4...12, using: &random) : Int.random(in: 0...3, using: &random)
        deliveries.append(
            Delivery(
                source: source, outgoing: item, attempt: attempt, readyAt: now + delay + latency, outcome: outcome,
                failingSince: failingSince, waitingUntil: retry ? now + delay : nil))
    }

    private func deliver() {
        let ready = deliveries.indices.filter { deliveries[$0].readyAt <= now }
        let delivery = deliveries.remove(at: random.pick(ready))
        let source = delivery.source
        let name = "\(source.partition)/\(source.offset)@\(source.assignmentEpoch)"
        if fatal { return }  // the producer is closed after a fatal error
        settle(delivery, name: name)
    }

    private func settle(_ delivery: Delivery, name: String) {
        let source = delivery.source
        let error: KafkaError
        switch delivery.outcome {
        case .ack:
            let key = key(source)
            let left = (remaining[key] ?? 1) - 1
            remaining[key] = left
            note("acked \(name) (\(left) left)")
            if left == 0 { answered(source) }
            return
        case .retriable: error = KafkaError(kind: .librdkafka, name: "_TRANSPORT", message: "simulated", disposition: .retriable)
        case .permanent: error = KafkaError(kind: .librdkafka, name: "MSG_SIZE_TOO_LARGE", message: "simulated", disposition: .permanent)
        case .fatal: error = KafkaError(kind: .librdkafka, name: "_FATAL", message: "simulated", disposition: .fatal)
        }
        let since = delivery.failingSince ?? now
        switch DeliveryDecision.after(
            error, delivering: delivery.outgoing, for: source, attempt: delivery.attempt, failingFor: .milliseconds(10 * (now - since)),
            maxRetryAge: .milliseconds(10 * maxRetryAge), maxBackoff: .milliseconds(80), deadLetters: deadLetters)
        {
        case .abandon:
            note("abandoned \(name)")
        case .retry(let backoff):
            guard ledger.isAwaiting(RequestLedger.Assignment(of: source), offset: source.offset) else {
                note("no retry of \(name): its assignment is over")
                return handBackRequest(source)
            }
            note("retry \(name) attempt \(delivery.attempt + 1)")
            produce(
                delivery.outgoing, source: source, attempt: delivery.attempt + 1,
                after: Int(backoff.components.attoseconds / 10_000_000_000_000_000), failingSince: since, retry: true)
        case .replace(let letter):
            note("refused \(name): \(letter.role)")
            produce(letter, source: source, attempt: 1)
        case .fatal(let reason):
            note("fatal: \(reason)")
            beginStop(fatal: true)
        }
    }

    /// `ResultSender.answered`: the ledger (which stores under its lock), then the bytes.
    private func answered(_ source: KafkaConsumerMessage) {
        guard settled.insert(key(source)).inserted else { return note("(already handed back)") }
        let index = Int(source.partition)
        answeredSets[index].insert(source.offset)
        while answeredSets[index].contains(answeredPrefix[index]) { answeredPrefix[index] += 1 }
        let epoch = source.assignmentEpoch
        ledger.answered(source) { [self] position in store(index, epoch: epoch, position: position) }
    }

    /// `ResultSender.handBack`: a request given up unanswered (its retry cancelled, or its
    /// assignment over).
    private func handBackRequest(_ source: KafkaConsumerMessage) {
        guard settled.insert(key(source)).inserted else { return }
        ledger.handBack(source)
        note("hand back in-flight \(source.partition)/\(source.offset)@\(source.assignmentEpoch)")
    }

    /// `ResultSender.cancelRetries`: retries still waiting for their backoff are cancelled.
    private func cancelRetries(_ matches: (RequestLedger.Assignment) -> Bool) {
        var cancelled: [KafkaConsumerMessage] = []
        deliveries.removeAll { delivery in
            guard let until = delivery.waitingUntil, now < until, matches(RequestLedger.Assignment(of: delivery.source)) else { return false }
            cancelled.append(delivery.source)
            return true
        }
        for source in cancelled { handBackRequest(source) }
    }

    private func store(_ index: Int, epoch: UInt64, position: Int64) {
        let key = RequestKey(partition: Int32(index), epoch: epoch, offset: 0)
        if let last = lastStore[key], position < last {
            fail("d", "partition \(index) epoch \(epoch) stored \(position) after \(last)")
        }
        lastStore[key] = position
        if position > answeredPrefix[index] {
            fail("a", "partition \(index) stored \(position) but \(answeredPrefix[index]) was never answered")
        }
        // `OffsetStore` for the consumer: only while `epoch` is the partition's latest
        // assignment and not yet released (`KafkaConsumer.holdsLatestAssignment`).
        guard consumer[index].assigned && consumer[index].count == epoch || options.storeIntoAnyAssignment && consumer[index].assigned else {
            note("not stored \(index)=\(position)@\(epoch): assignment \(consumer[index].count) holds the partition")
            return
        }
        consumer[index].stored = position
        note("store \(index)=\(position)@\(epoch)")
    }

    private func runDeferred() {
        let index = Int.random(in: 0..<deferredBox.items.count, using: &random)
        let late = deferredBox.items.remove(at: index)
        note("late store")
        late()
    }

    private func key(_ message: KafkaConsumerMessage) -> RequestKey {
        RequestKey(partition: message.partition, epoch: message.assignmentEpoch, offset: message.offset)
    }

    // MARK: group events (RebalanceHandler's rules)

    private func handlerCanStep() -> Bool {
        switch handler {
        case .idle: return !events.isEmpty
        case .draining(let assignments, let deadline, _): return ledger.unansweredCount(in: assignments) == 0 || now >= deadline
        case .committing(_, let doneAt, _): return now >= doneAt
        }
    }

    private func handlerStep() {
        switch handler {
        case .idle:
            let event = events.removeFirst()
            switch event {
            case .assigned(let indices):
                epochs.assigned(indices.map { tps[$0] })
                note("handler: assigned \(indices)")
            case .revoked(let indices, let ack):
                let revoked = epochs.current(indices.map { tps[$0] })
                ledger.disown(revoked)
                handBackQueued { self.ledger.covers(revoked, $0) }
                handler = .draining(revoked, deadline: now + drainTimeout, ack: ack)
                note("handler: revoke \(revoked.map(\.description).sorted())")
            case .lost(let indices):
                let lost = epochs.current(indices.map { tps[$0] })
                ledger.forget(lost)
                handBackQueued { self.ledger.covers(lost, $0) }
                cancelRetries { lost.contains($0) }
                note("handler: lost \(lost.map(\.description).sorted())")
            }
        case .draining(let assignments, _, let ack):
            cancelRetries { assignments.contains($0) }
            let commitTime = random.chance(25) ? longCommit : Int.random(in: 0...2, using: &random)
            handler = .committing(assignments, doneAt: now + commitTime, ack: ack)
            note("handler: drained (\(ledger.unansweredCount(in: assignments)) left), committing for \(commitTime)")
        case .committing(let assignments, _, let ack):
            commit("revoke")
            ledger.forget(assignments)
            acked[ack] = true
            handler = .idle
            note("handler: forgot \(assignments.map(\.description).sorted()), ack#\(ack)")
        }
    }

    /// `ModerationWorker.abandonQueued`.
    private func handBackQueued(_ predicate: (KafkaConsumerMessage) -> Bool) {
        queue.removeAll { item in
            guard predicate(item.message) else { return false }
            ledger.handBack(item.message)
            note("hand back \(item.message.partition)/\(item.message.offset)@\(item.message.assignmentEpoch)")
            return true
        }
    }

    // MARK: stopping (ModerationWorker.run's ending)

    private func beginStop(fatal isFatal: Bool) {
        if isFatal {
            fatal = true
            ledger.releaseWaiters()
        }
        guard case .running = stop else { return }
        stop = .draining(deadline: now + drainTimeout, began: now)
        ledger.stop()
        handBackQueued { _ in true }
        note(isFatal ? "fatal stop" : "graceful stop")
    }

    private func finishStop() {
        guard case .draining(_, let began) = stop else { return }
        let clean = !fatal && ledger.unansweredCount() == 0
        cancelRetries { _ in true }
        commit("final")
        if clean {
            for index in 0..<tps.count {
                guard consumer[index].assigned, let epoch = consumer[index].epoch,
                    let handedOut = ledger.storedPosition(RequestLedger.Assignment(tps[index], epoch: epoch))
                else { continue }
                if committed[index] < handedOut {
                    fail("g", "clean stop committed \(committed[index]) for partition \(index), the ledger had stored \(handedOut)")
                }
            }
        }
        if now - began > drainTimeout {
            fail("e", "shutdown took \(now - began) ticks, bound \(drainTimeout)")
        }
        stop = .closed
        note("closed")
    }

    // MARK: invariants

    private func fail(_ rule: String, _ detail: String) {
        guard violation == nil else { return }
        violation = Violation(seed: seed, step: step, rule: rule, detail: detail, trace: trace)
    }

    private func checkEveryStep() {
        for index in 0..<tps.count where committed[index] > answeredPrefix[index] {
            fail("a", "partition \(index) committed \(committed[index]) but \(answeredPrefix[index]) was never answered")
        }
        if let replay, !replayDone {
            let done: Bool
            if options.legacyReplayDone {
                done = replay.allPartitionsReached && queue.isEmpty && ledger.unansweredCount() == 0
            } else {
                done = ledger.hasAnswered(through: replayEnds)
            }
            if done {
                replayDone = true
                quietStepsUsed = max(0, step - faultSteps)
                note("replay done")
                for index in 0..<tps.count where answeredPrefix[index] < ends[index] {
                    fail("f", "replay done, but partition \(index) answered only below \(answeredPrefix[index]) of ..<\(ends[index])")
                }
                beginStop(fatal: false)
            }
        }
    }

    private func allAtEnd() -> Bool {
        (0..<tps.count).allSatisfy { answeredPrefix[$0] >= ends[$0] && (!consumer[$0].assigned || consumer[$0].stored ?? committed[$0] >= ends[$0]) }
    }

    private func checkEnd() {
        // (b): below the commit everything was answered (checked as (a)); above it, the next
        // reader starts. Nothing else can be lost.
        for index in 0..<tps.count where committed[index] > answeredPrefix[index] {
            fail("b", "partition \(index) committed past unanswered \(answeredPrefix[index])")
        }
    }

    private func stateSummary() -> String {
        (0..<tps.count).map { index in
            "p\(index): answered<\(answeredPrefix[index]) end \(ends[index]) committed \(committed[index]) assigned \(consumer[index].assigned) epoch \(consumer[index].epoch.map(String.init) ?? "-") position \(consumer[index].position) unanswered \(ledger.unansweredCount(in: [RequestLedger.Assignment(tps[index], epoch: consumer[index].count)]))"
        }.joined(separator: "; ") + " replay done \(replayDone) stop \(stop)"
    }
}
