import Kafka

/// One record the worker produces to answer a request, and what it is, so that the
/// sender knows what to do when the broker refuses it for good.
struct Outgoing: Sendable {
    enum Role: Sendable, Equatable {
        /// A result (to the output topic or a `reply-to`): refused for good, it becomes an
        /// `UNDELIVERABLE` dead letter.
        case result
        /// A dead letter in the given form: refused for good, it is sent again smaller.
        case deadLetter(DeadLetterReason, DeadLetterComposer.Form)
    }

    var role: Role
    var message: KafkaProducerMessage
}
