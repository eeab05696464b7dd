import Kafka
import Synchronization

/// The life of every request from read to stored position, in one place: the whole
/// at-least-once guarantee of the worker.
///
/// Rules (docs/architecture.md, "The ledger"):
/// - A record is `register`ed under its partition's assignment epoch when intake reads it;
///   it is refused when that assignment is over (revoked, lost, or a newer one exists).
/// - `answered` (its result or dead letter acknowledged) moves the partition's position
///   over the contiguous answered prefix and stores it *under the ledger's lock*, so no
///   reader can see "nothing unanswered" before the last position is stored, and positions
///   reach the store in the order they advance.
/// - `handBack` (revoke, stop: a record dropped unanswered for the partition's next reader)
///   freezes the position at or below it.
/// - `drained` resumes (no polling) once the given partitions of the given epochs have
///   nothing unanswered; `answered(through:)` once positions reach given offsets (replay).
/// - Every operation names the epoch it belongs to: a late cleanup of an old assignment
///   (`disown`, `forget`) cannot touch a newer assignment of the same partition, and once a
///   newer assignment exists, an older one stores nothing (its store would land in the new
///   assignment's position).
public final class RequestLedger: Sendable {
    /// One assignment of one partition.
    public struct Assignment: Hashable, Sendable, CustomStringConvertible {
        public var partition: KafkaTopicPartition
        public var epoch: UInt64

        public init(_ partition: KafkaTopicPartition, epoch: UInt64) {
            self.partition = partition
            self.epoch = epoch
        }

        public init(of message: KafkaConsumerMessage) {
            self.init(message.topicPartition, epoch: message.assignmentEpoch)
        }

        public var description: String { "\(partition)@\(epoch)" }
    }

    /// Test-only faults that put known bugs back, so the simulator can prove it finds them.
    struct Faults: OptionSet, Sendable {
        let rawValue: Int
        /// The race fixed in 0720409: the position is stored after the lock is released.
        static let storeAfterUnlock = Faults(rawValue: 1 << 0)
        /// Issue 17 problem 1: cleanups act on the partition, whatever its epoch.
        static let epochBlindCleanup = Faults(rawValue: 1 << 1)
    }

    private struct State {
        /// False once revoked, lost or stopped: no new registrations.
        var owned = true
        var pending: Set<Int64> = []
        /// Answered records above the lowest unanswered one (their position cannot move
        /// yet): a stop or revoke must not hand back a record below them.
        var answeredAbove: Set<Int64> = []
        var nextAfterSeen: Int64
        var ceiling: Int64?
        /// The position last stored; starts at the first offset read.
        var lastStored: Int64

        init(firstOffset: Int64) {
            lastStored = firstOffset
            nextAfterSeen = firstOffset
        }

        var committable: Int64 {
            let frontier = pending.min() ?? nextAfterSeen
            return ceiling.map { min($0, frontier) } ?? frontier
        }
    }

    private struct Waiter {
        var id: UInt64
        var isMet: @Sendable (Book) -> Bool
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct Book {
        var states: [Assignment: State] = [:]
        /// The newest epoch seen per partition (registered or named by a cleanup).
        var latest: [KafkaTopicPartition: UInt64] = [:]
        /// The furthest answered position per partition over all its assignments.
        var answeredThrough: [KafkaTopicPartition: Int64] = [:]
        var stopped = false
        /// After `releaseWaiters`: nothing waits any more.
        var released = false
        var waiters: [Waiter] = []
        var nextWaiter: UInt64 = 0

        func unanswered(_ selection: Set<Assignment>?) -> Int {
            states.reduce(0) { total, entry in
                guard selection?.contains(entry.key) ?? true else { return total }
                return total + entry.value.pending.count
            }
        }

        /// Removes and returns the waiters whose condition now holds.
        mutating func takeMet() -> [CheckedContinuation<Void, Never>] {
            guard !waiters.isEmpty else { return [] }
            var met: [CheckedContinuation<Void, Never>] = []
            let snapshot = self
            waiters.removeAll { waiter in
                guard waiter.isMet(snapshot) else { return false }
                met.append(waiter.continuation)
                return true
            }
            return met
        }
    }

    private let book = Mutex(Book())
    let faults: Faults
    /// With `.storeAfterUnlock`, runs the late store (the simulator schedules it as its own step).
    private let deferStore: (@Sendable (@escaping @Sendable () -> Void) -> Void)?

    public convenience init() {
        self.init(faults: [])
    }

    init(faults: Faults, deferStore: (@Sendable (@escaping @Sendable () -> Void) -> Void)? = nil) {
        self.faults = faults
        self.deferStore = deferStore
    }

    // MARK: a request's life

    /// Records that a record was read under `assignment` and is not answered yet. False when
    /// that assignment is over (the caller drops the record: the partition's owner re-reads it).
    public func register(_ assignment: Assignment, offset: Int64) -> Bool {
        book.withLock { book in
            if book.stopped { return false }
            let latest = book.latest[assignment.partition] ?? 0
            if assignment.epoch < latest { return false }
            var state = book.states[assignment] ?? State(firstOffset: offset)
            guard state.owned else { return false }
            if assignment.epoch > latest {
                book.latest[assignment.partition] = assignment.epoch
                // Older assignments that are over and empty are of no further use.
                book.states = book.states.filter { $0.key.partition != assignment.partition || $0.key == assignment || $0.value.owned || !$0.value.pending.isEmpty }
            }
            state.pending.insert(offset)
            state.nextAfterSeen = max(state.nextAfterSeen, offset + 1)
            book.states[assignment] = state
            return true
        }
    }

    public func register(_ message: KafkaConsumerMessage) -> Bool {
        register(Assignment(of: message), offset: message.offset)
    }

    /// Records that a record is answered and, when its position advanced, hands the new
    /// position ("next offset to read") to `store` before the lock is released. `store`
    /// must not call back into the ledger.
    public func answered(_ assignment: Assignment, offset: Int64, store: @escaping @Sendable (Int64) -> Void) {
        let (late, met): ((@Sendable () -> Void)?, [CheckedContinuation<Void, Never>]) = book.withLock { book in
            guard var state = book.states[assignment], state.pending.remove(offset) != nil else { return (nil, []) }
            if let lowest = state.pending.min() {
                if offset > lowest { state.answeredAbove.insert(offset) }
                state.answeredAbove = state.answeredAbove.filter { $0 > lowest }
            } else {
                state.answeredAbove = []
            }
            let position = state.committable
            var late: (@Sendable () -> Void)?
            // A newer assignment exists: storing would move *its* position.
            let current = book.latest[assignment.partition] == assignment.epoch
            if position > state.lastStored && current {
                state.lastStored = position
                book.answeredThrough[assignment.partition] = max(book.answeredThrough[assignment.partition] ?? position, position)
                if faults.contains(.storeAfterUnlock) {
                    late = { store(position) }
                } else {
                    store(position)
                }
            }
            book.states[assignment] = state
            return (late, book.takeMet())
        }
        if let late {
            if let deferStore { deferStore(late) } else { late() }
        }
        for continuation in met { continuation.resume() }
    }

    public func answered(_ message: KafkaConsumerMessage, store: @escaping @Sendable (Int64) -> Void) {
        answered(Assignment(of: message), offset: message.offset, store: store)
    }

    /// Forgets a record without answering it (the partition's next reader re-reads it) and
    /// freezes its assignment's position at or below it.
    public func handBack(_ assignment: Assignment, offset: Int64) {
        let met = book.withLock { book in
            guard var state = book.states[assignment] else { return [CheckedContinuation<Void, Never>]() }
            state.pending.remove(offset)
            state.ceiling = min(state.ceiling ?? offset, offset)
            book.states[assignment] = state
            return book.takeMet()
        }
        for continuation in met { continuation.resume() }
    }

    public func handBack(_ message: KafkaConsumerMessage) {
        handBack(Assignment(of: message), offset: message.offset)
    }

    // MARK: group events and stop

    /// A revoke began: no new records of these assignments are accepted; those registered
    /// may still be answered (and committed on revoke).
    public func disown(_ assignments: Set<Assignment>) {
        book.withLock { book in
            for assignment in assignments {
                book.latest[assignment.partition] = max(book.latest[assignment.partition] ?? 0, assignment.epoch)
                for key in keys(of: assignment, in: book) { book.states[key]?.owned = false }
                if book.states[assignment] == nil && !faults.contains(.epochBlindCleanup) {
                    // Nothing registered yet: remember it is over, so late records are refused.
                    var closed = State(firstOffset: 0)
                    closed.owned = false
                    book.states[assignment] = closed
                }
            }
        }
    }

    /// The assignments are over (revoke acknowledged, or lost): their unanswered records are
    /// dropped and their late answers ignored. A newer assignment of the same partition is
    /// untouched.
    public func forget(_ assignments: Set<Assignment>) {
        disown(assignments)
        let met = book.withLock { book in
            for assignment in assignments {
                for key in keys(of: assignment, in: book) {
                    book.states[key]?.pending = []
                    book.states[key]?.answeredAbove = []
                }
            }
            return book.takeMet()
        }
        for continuation in met { continuation.resume() }
    }

    /// The worker is stopping: no new registrations of any partition.
    public func stop() {
        book.withLock { $0.stopped = true }
    }

    /// For each assignment with records still queued (`queued`: their offsets), the highest
    /// offset below which none of them may be handed back: the highest record answered, or
    /// registered and not queued (in a batch, being sent, or being prepared by intake — an
    /// intake answer such as a score-cache hit or a dead letter passes queued records).
    /// Handing back a queued record below it would freeze the position below an answer, and
    /// the partition's next reader would answer that record again (a duplicate). Assignments
    /// with no such record are absent: all their queued records may be handed back.
    public func highestTaken(queued: [Assignment: Set<Int64>]) -> [Assignment: Int64] {
        book.withLock { book in
            var highest: [Assignment: Int64] = [:]
            for (assignment, offsets) in queued {
                guard let state = book.states[assignment] else { continue }
                let taken = state.pending.subtracting(offsets).union(state.answeredAbove)
                if let top = taken.max() { highest[assignment] = top }
            }
            return highest
        }
    }

    /// Whether a queued record belongs to one of `assignments` (revoke and loss hand those back).
    public func covers(_ assignments: Set<Assignment>, _ message: KafkaConsumerMessage) -> Bool {
        if faults.contains(.epochBlindCleanup) { return assignments.contains { $0.partition == message.topicPartition } }
        return assignments.contains(Assignment(of: message))
    }

    private func keys(of assignment: Assignment, in book: Book) -> [Assignment] {
        guard faults.contains(.epochBlindCleanup) else { return [assignment] }
        return book.states.keys.filter { $0.partition == assignment.partition }
    }

    // MARK: reading and waiting

    /// Unanswered records of `assignments` (all when `nil`).
    public func unansweredCount(in assignments: Set<Assignment>? = nil) -> Int {
        book.withLock { $0.unanswered(assignments) }
    }

    /// Whether the record is registered under `assignment` and not answered or dropped yet
    /// (a retry of an assignment that is over stops instead).
    public func isAwaiting(_ assignment: Assignment, offset: Int64) -> Bool {
        book.withLock { $0.states[assignment]?.pending.contains(offset) ?? false }
    }

    /// The furthest position answered (every record below it answered) of `partition`, over
    /// all its assignments; `nil` before any.
    public func answeredThrough(_ partition: KafkaTopicPartition) -> Int64? {
        book.withLock { $0.answeredThrough[partition] }
    }

    /// The position an assignment last handed to the store (the simulator checks commits against it).
    public func storedPosition(_ assignment: Assignment) -> Int64? {
        book.withLock { $0.states[assignment]?.lastStored }
    }

    /// True when every partition's answered position has reached its given position (replay's "done").
    public func hasAnswered(through positions: [KafkaTopicPartition: Int64]) -> Bool {
        book.withLock { Self.reached(positions, $0) }
    }

    private static func reached(_ positions: [KafkaTopicPartition: Int64], _ book: Book) -> Bool {
        positions.allSatisfy { (book.answeredThrough[$0.key] ?? Int64.min) >= $0.value }
    }

    /// Returns once `assignments` (all, when `nil`) have nothing unanswered; at once when
    /// they have nothing now. Returns early when the task is cancelled.
    public func drained(_ assignments: Set<Assignment>? = nil) async {
        await wait { $0.unanswered(assignments) == 0 }
    }

    /// `drained(_:)` bounded by `timeout` on `clock`; true when drained in time.
    public func drained(_ assignments: Set<Assignment>?, within timeout: Duration, clock: any Clock<Duration>) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.drained(assignments)
                return !Task.isCancelled
            }
            group.addTask {
                try? await clock.sleep(for: timeout, tolerance: nil)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first && unansweredCount(in: assignments) == 0
        }
    }

    /// Returns once every partition's answered position has reached its given position.
    public func answered(through positions: [KafkaTopicPartition: Int64]) async {
        await wait { Self.reached(positions, $0) }
    }

    /// Returns once every partition's answered position has reached the positions `target`
    /// gives when asked (they may change: a replay's end moves to its last record when the
    /// consumer reports the partition's end); call `recheck()` after `target` changed.
    public func answered(through target: @escaping @Sendable () -> [KafkaTopicPartition: Int64]) async {
        await wait { Self.reached(target(), $0) }
    }

    /// Resumes the waiters whose condition now holds although nothing in the ledger changed
    /// (the condition reads state outside it).
    public func recheck() {
        for continuation in book.withLock({ $0.takeMet() }) { continuation.resume() }
    }

    /// Resumes every waiter now, and later ones at once (a fatal stop does not wait for drains).
    public func releaseWaiters() {
        let all = book.withLock { book in
            book.released = true
            defer { book.waiters = [] }
            return book.waiters.map(\.continuation)
        }
        for continuation in all { continuation.resume() }
    }

    private func wait(until isMet: @escaping @Sendable (Book) -> Bool) async {
        let id = book.withLock { book in
            book.nextWaiter += 1
            return book.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = book.withLock { book in
                    if book.released || isMet(book) || Task.isCancelled { return true }
                    book.waiters.append(Waiter(id: id, isMet: isMet, continuation: continuation))
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let cancelled = book.withLock { book -> CheckedContinuation<Void, Never>? in
                guard let index = book.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return book.waiters.remove(at: index).continuation
            }
            cancelled?.resume()
        }
    }
}
