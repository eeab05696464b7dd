import Kafka
import ModerationProto
import Synchronization

@testable import Worker

/// The shell simulator's consumer: a message source and offset store with Kafka's rules as
/// the worker relies on them. A partition's epoch moves on every assignment; a revoke takes
/// the epoch away at once but keeps the partition (its positions can still be stored and
/// committed) until the handler acknowledges or the revoke times out; a loss drops it at once;
/// a new assignment starts reading at the committed position. Positions stored under an
/// assignment must only grow (invariant d, checked here as they arrive).
final class SimulatedConsumer: MessageSource, OffsetStore, @unchecked Sendable {
    let topic: String
    let ends: [Int64]
    /// Poison records per partition: bytes no decoder reads (truncated protobuf), which
    /// intake must dead-letter and pass.
    let poison: [Set<Int64>]
    let records: AsyncStream<KafkaConsumerMessage>
    let groupEvents: AsyncStream<GroupEvent>
    private let recordInput: AsyncStream<KafkaConsumerMessage>.Continuation
    private let eventInput: AsyncStream<GroupEvent>.Continuation

    private struct State {
        var current: [UInt64?]
        var counts: [UInt64]
        var held: [Bool]
        var openRevoke: [Int?]
        var nextRevoke = 0
        var fetchPosition: [Int64]
        var stored: [Int64?]
        var storedByEpoch: [[UInt64: Int64]]
        var committed: [Int64]
        var problem: String?
    }

    private let state: Mutex<State>

    init(topic: String, ends: [Int64], poison: [Set<Int64>] = []) {
        self.topic = topic
        self.ends = ends
        self.poison = poison
        let count = ends.count
        state = Mutex(
            State(
                current: Array(repeating: nil, count: count), counts: Array(repeating: 0, count: count),
                held: Array(repeating: false, count: count), openRevoke: Array(repeating: nil, count: count),
                fetchPosition: Array(repeating: 0, count: count), stored: Array(repeating: nil, count: count),
                storedByEpoch: Array(repeating: [:], count: count), committed: Array(repeating: 0, count: count)))
        (records, recordInput) = AsyncStream.makeStream()
        (groupEvents, eventInput) = AsyncStream.makeStream()
    }

    // MARK: the simulator's side

    func assign(_ partition: Int) -> UInt64 {
        let epoch = state.withLock { state in
            state.counts[partition] += 1
            state.current[partition] = state.counts[partition]
            state.held[partition] = true
            state.openRevoke[partition] = nil
            state.fetchPosition[partition] = state.committed[partition]
            state.stored[partition] = nil
            return state.counts[partition]
        }
        eventInput.yield(.assigned([topicPartition(partition)], .none))
        return epoch
    }

    func revoke(_ partition: Int) {
        let id = state.withLock { state in
            state.nextRevoke += 1
            state.current[partition] = nil
            state.openRevoke[partition] = state.nextRevoke
            return state.nextRevoke
        }
        eventInput.yield(.revoked([topicPartition(partition)], GroupEventAcknowledgement { [self] in finishRevoke(partition, id: id) }))
    }

    /// The revoke completes: acknowledged (`id`), or timed out (`nil`). A late acknowledgement
    /// of an older revoke does nothing.
    func finishRevoke(_ partition: Int, id: Int? = nil) {
        state.withLock { state in
            guard let open = state.openRevoke[partition], id == nil || id == open else { return }
            state.openRevoke[partition] = nil
            state.held[partition] = false
            state.stored[partition] = nil
        }
    }

    func lose(_ partition: Int) {
        state.withLock { state in
            state.current[partition] = nil
            state.openRevoke[partition] = nil
            state.held[partition] = false
            state.stored[partition] = nil
        }
        eventInput.yield(.lost([topicPartition(partition)], .none))
    }

    /// Partitions with a record to fetch now, in partition order.
    func fetchable() -> [Int] {
        state.withLock { state in
            (0..<ends.count).filter { state.current[$0] != nil && state.fetchPosition[$0] < ends[$0] }
        }
    }

    /// Hands the partition's next record to the reader.
    func fetch(_ partition: Int) -> KafkaConsumerMessage? {
        let taken: (Int64, UInt64)? = state.withLock { state in
            guard let epoch = state.current[partition], state.fetchPosition[partition] < ends[partition] else { return nil }
            defer { state.fetchPosition[partition] += 1 }
            return (state.fetchPosition[partition], epoch)
        }
        guard let (offset, epoch) = taken else { return nil }
        var request = ModerationRequest()
        request.id = "\(partition)-\(offset)"
        request.text = "request \(offset % 3)"  // texts repeat: score-cache hits at intake
        guard var value = try? ModerationCodec.encodeRequest(request, contentType: .protobuf) else { return nil }
        // Field 1 (the id) says 127 bytes follow, and none do.
        if poison.indices.contains(partition) && poison[partition].contains(offset) { value = [0x0A, 0x7F] }
        let message = KafkaConsumerMessage(
            topic: topic, partition: Int32(partition), offset: offset, key: Array("\(partition):\(offset):\(epoch)".utf8), value: value,
            assignmentEpoch: epoch)
        recordInput.yield(message)
        return message
    }

    func close() {
        recordInput.finish()
        eventInput.finish()
    }

    func isHeld(_ partition: Int) -> Bool { state.withLock { $0.held[partition] } }
    func revokeOpen(_ partition: Int) -> Bool { state.withLock { $0.openRevoke[partition] != nil } }
    func currentEpoch(_ partition: Int) -> UInt64? { state.withLock { $0.current[partition] } }
    func storedPosition(_ partition: Int) -> Int64 { state.withLock { $0.stored[partition] ?? $0.committed[partition] } }
    func committedPosition(_ partition: Int) -> Int64 { state.withLock { $0.committed[partition] } }
    var storedPositions: [Int64] { (0..<ends.count).map { storedPosition($0) } }

    func takeProblem() -> String? {
        state.withLock { state in
            defer { state.problem = nil }
            return state.problem
        }
    }

    private func topicPartition(_ partition: Int) -> KafkaTopicPartition {
        KafkaTopicPartition(topic: topic, partition: Int32(partition))
    }

    // MARK: MessageSource and OffsetStore (the worker's side)

    func assignmentEpoch(of partition: KafkaTopicPartition) -> UInt64? {
        state.withLock { $0.current[Int(partition.partition)] }
    }

    var assignedCount: Int { state.withLock { $0.current.compactMap { $0 }.count } }

    func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {}

    func commit(timeout: Duration) async throws(KafkaError) {
        commitHeld()
    }

    func commitStored() async throws(KafkaError) {
        commitHeld()
    }

    private func commitHeld() {
        state.withLock { state in
            for partition in 0..<ends.count where state.held[partition] {
                if let stored = state.stored[partition] { state.committed[partition] = stored }
            }
        }
    }

    func store(_ partition: KafkaTopicPartition, epoch: UInt64, position: Int64) throws(KafkaError) -> Bool {
        let index = Int(partition.partition)
        return state.withLock { state in
            guard state.held[index] && state.counts[index] == epoch else { return false }
            if let last = state.storedByEpoch[index][epoch], position < last, state.problem == nil {
                state.problem = "partition \(index) epoch \(epoch): stored position moved back from \(last) to \(position)"
            }
            state.storedByEpoch[index][epoch] = position
            state.stored[index] = position
            return true
        }
    }
}
