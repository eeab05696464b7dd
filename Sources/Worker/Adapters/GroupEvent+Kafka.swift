import Kafka

// The Kafka consumer's events as the worker core's group events (GroupEvent.swift).

extension GroupEvent {
    /// The consumer's event: only a revoke's acknowledgement reaches Kafka.
    init(_ event: KafkaConsumerEvent) {
        switch event {
        case .partitionsAssigned(let partitions): self = .assigned(partitions, .none)
        case .partitionsRevoked(let partitions, let acknowledgement): self = .revoked(partitions, .init { acknowledgement.acknowledge() })
        case .partitionsLost(let partitions): self = .lost(partitions, .none)
        case .error(let error): self = .error(error)
        }
    }
}
