/// The librdkafka properties this library's delivery guarantee rests on, which passthrough
/// properties (`KafkaConfiguration.properties`: `-X`, `client.properties`) must not set.
///
/// Passthrough exists for what the library has no opinion about (SASL, TLS, tuning). These
/// properties are not that: with `enable.auto.offset.store=true` librdkafka stores a message's
/// offset when it is handed out, so a crash commits past unanswered requests; `acks=1` or
/// `enable.idempotence=false` let an acknowledged result be lost or duplicated out of order;
/// `allow.auto.create.topics=true` lets a requester's `reply-to` create topics. A deployment
/// that sets one of them gets a start-up error naming it, never a silent downgrade. The typed
/// fields (`autoCommitInterval`, `idempotent`, `allowsTopicCreation`, ...) still choose them
/// where the library gives the choice.
public enum KafkaGuaranteeProperties {
    /// Properties a consumer's passthrough may not set.
    public static let consumer: Set<String> = [
        "enable.auto.offset.store", "enable.auto.commit", "auto.commit.enable", "auto.offset.reset",
        "allow.auto.create.topics", "enable.partition.eof",
    ]
    /// Properties a producer's passthrough may not set.
    public static let producer: Set<String> = [
        "acks", "request.required.acks", "enable.idempotence", "allow.auto.create.topics", "transactional.id",
    ]

    /// The first (in name order) of `protected` that `properties` sets, `nil` when none is.
    /// Names are compared as librdkafka does: exactly, after trimming nothing.
    public static func violation(in properties: [String: String], protected: Set<String>) -> String? {
        properties.keys.filter { protected.contains($0) }.min()
    }

    /// The error `validate()` throws for `property`.
    static func error(_ property: String) -> KafkaError {
        .configuration(
            "'\(property)' cannot be set through passthrough properties (-X / client.properties): "
                + "the worker's at-least-once guarantee depends on its own value")
    }
}
