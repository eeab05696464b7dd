import Kafka
import Synchronization

@testable import Worker

/// The shell simulator's broker side of the producer: produced records wait until the
/// simulator acknowledges one (any one, so acks come out of order across partitions). A
/// record's key names the request it answers (`partition:offset:epoch`, set by
/// `SimulatedConsumer`), so the simulator knows, apart from the ledger, what was answered.
final class SimulatedSink: RecordSink, @unchecked Sendable {
    private struct Pending {
        var message: KafkaProducerMessage
        var delivered: @Sendable (Result<Void, KafkaError>) -> Void
    }

    private struct Answer: Hashable {
        var partition: Int
        var offset: Int64
        var epoch: UInt64
    }

    private let pending = Mutex<[Pending]>([])
    private let answers = Mutex<Set<Answer>>([])

    func produce(_ message: KafkaProducerMessage, delivered: @escaping @Sendable (Result<Void, KafkaError>) -> Void) throws(KafkaError) {
        pending.withLock { $0.append(Pending(message: message, delivered: delivered)) }
    }

    var pendingCount: Int { pending.withLock { $0.count } }

    /// Acknowledges the record at `index`; false when none waits.
    @discardableResult
    func resolve(at index: Int) -> Bool {
        let taken: Pending? = pending.withLock { pending in
            guard !pending.isEmpty else { return nil }
            return pending.remove(at: index % pending.count)
        }
        guard let taken else { return false }
        if let key = taken.message.key {
            let parts = String(decoding: key, as: UTF8.self).split(separator: ":")
            if parts.count == 3, let partition = Int(parts[0]), let offset = Int64(parts[1]), let epoch = UInt64(parts[2]) {
                answers.withLock { _ = $0.insert(Answer(partition: partition, offset: offset, epoch: epoch)) }
            }
        }
        taken.delivered(.success(()))
        return true
    }

    /// Whether a record answering `partition/offset` (under any assignment) was acknowledged.
    func answered(partition: Int, offset: Int64) -> Bool {
        answers.withLock { answers in answers.contains { $0.partition == partition && $0.offset == offset } }
    }

    /// The offsets answered under one assignment, ascending.
    func answeredOffsets(partition: Int, epoch: UInt64) -> [Int64] {
        answers.withLock { answers in answers.filter { $0.partition == partition && $0.epoch == epoch }.map(\.offset).sorted() }
    }
}
