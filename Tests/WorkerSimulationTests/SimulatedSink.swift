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

    /// One acknowledged record: the request it answers, and where it went.
    private struct Delivery: Hashable {
        var answer: Answer
        var topic: String
    }

    /// A retriable delivery failure (the broker link dropped): the sender retries after a backoff.
    static let retriable = KafkaError(kind: .librdkafka, name: "_TRANSPORT", message: "simulated link drop", disposition: .retriable)

    private let pending = Mutex<[Pending]>([])
    private let answers = Mutex<Set<Answer>>([])
    private let deliveries = Mutex<[Delivery: Int]>([:])
    private let problem = Mutex<String?>(nil)
    private let failures = Mutex(0)

    /// Coverage: deliveries failed so far, and records acknowledged on `topic`.
    var failureCount: Int { failures.withLock { $0 } }
    func deliveredCount(to topic: String) -> Int { deliveries.withLock { $0.filter { $0.key.topic == topic }.values.reduce(0, +) } }

    func produce(_ message: KafkaProducerMessage, delivered: @escaping @Sendable (Result<Void, KafkaError>) -> Void) throws(KafkaError) {
        pending.withLock { $0.append(Pending(message: message, delivered: delivered)) }
    }

    var pendingCount: Int { pending.withLock { $0.count } }

    /// Acknowledges the record at `index`, or fails its delivery retriably (`failing`); false
    /// when none waits.
    @discardableResult
    func resolve(at index: Int, failing: Bool = false) -> Bool {
        let taken: Pending? = pending.withLock { pending in
            guard !pending.isEmpty else { return nil }
            return pending.remove(at: index % pending.count)
        }
        guard let taken else { return false }
        if failing {
            failures.withLock { $0 += 1 }
            taken.delivered(.failure(Self.retriable))
            return true
        }
        if let key = taken.message.key {
            let parts = String(decoding: key, as: UTF8.self).split(separator: ":")
            if parts.count == 3, let partition = Int(parts[0]), let offset = Int64(parts[1]), let epoch = UInt64(parts[2]) {
                let answer = Answer(partition: partition, offset: offset, epoch: epoch)
                answers.withLock { _ = $0.insert(answer) }
                let delivery = Delivery(answer: answer, topic: taken.message.topic)
                let count = deliveries.withLock { deliveries in
                    deliveries[delivery, default: 0] += 1
                    return deliveries[delivery] ?? 0
                }
                if count > 1 {
                    problem.withLock { problem in
                        problem = problem ?? "record \(partition)/\(offset) was delivered to \(taken.message.topic) \(count) times under epoch \(epoch)"
                    }
                }
            }
        }
        taken.delivered(.success(()))
        return true
    }

    /// The first record delivered twice to one topic for one request under one assignment
    /// (a result or dead letter written twice by the same owner), once.
    func takeProblem() -> String? { problem.withLock { problem in defer { problem = nil }; return problem } }

    /// Whether a record answering `partition/offset` (under any assignment) was acknowledged.
    func answered(partition: Int, offset: Int64) -> Bool {
        answers.withLock { answers in answers.contains { $0.partition == partition && $0.offset == offset } }
    }

    /// Whether a record answering `partition/offset` (under any assignment) reached `topic`.
    func delivered(partition: Int, offset: Int64, to topic: String) -> Bool {
        deliveries.withLock { deliveries in
            deliveries.keys.contains { $0.topic == topic && $0.answer.partition == partition && $0.answer.offset == offset }
        }
    }

    /// The offsets answered under one assignment, ascending.
    func answeredOffsets(partition: Int, epoch: UInt64) -> [Int64] {
        answers.withLock { answers in answers.filter { $0.partition == partition && $0.epoch == epoch }.map(\.offset).sorted() }
    }
}
