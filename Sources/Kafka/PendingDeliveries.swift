import Synchronization

/// The delivery callbacks of a producer's messages that librdkafka has not reported yet.
///
/// Why a registry and not a retained box passed as librdkafka's `msg_opaque`: a message whose
/// report never comes (left in librdkafka at destroy) would leak its box and leave an
/// awaiting `send` suspended for ever. Here the producer fails every leftover at close, so
/// each callback runs exactly once. `msg_opaque` carries the registry id instead.
final class PendingDeliveries: Sendable {
    typealias Completion = @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void

    private struct State: ~Copyable {
        var nextID: UInt = 1
        var completions: [UInt: Completion] = [:]
    }

    private let state = Mutex(State())

    /// Messages enqueued and not yet reported.
    var count: Int { state.withLock { $0.completions.count } }

    /// Registers a completion; returns the non-zero id to pass as `msg_opaque`.
    func register(_ completion: @escaping Completion) -> UInt {
        state.withLock { state in
            let id = state.nextID
            state.nextID = id == UInt.max ? 1 : id + 1
            state.completions[id] = completion
            return id
        }
    }

    /// Removes and returns the completion of `id` (nil: already reported or failed).
    func take(_ id: UInt) -> Completion? {
        state.withLock { $0.completions.removeValue(forKey: id) }
    }

    /// Completes `id` with `result`, if it is still pending.
    func complete(_ id: UInt, with result: Result<KafkaDeliveryReport, KafkaError>) {
        take(id)?(result)
    }

    /// Fails every pending message with `error` (the producer is gone).
    func failAll(with error: KafkaError) {
        let all = state.withLock { state in
            defer { state.completions = [:] }
            return state.completions
        }
        for (_, completion) in all.sorted(by: { $0.key < $1.key }) { completion(.failure(error)) }
    }
}
