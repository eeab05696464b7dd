import Kafka

/// What the sender does after one of a request's records failed to be delivered: a pure
/// decision (no I/O), so `ResultSender` and the simulator follow the same rules.
///
/// - the producer is closing: give up, the request stays unanswered (re-read after restart);
/// - retriable: try again after a backoff doubling from 10 ms up to `maxBackoff`; a result
///   still failing after `maxRetryAge` becomes an `UNDELIVERABLE` dead letter with the last
///   error (a `reply-to` that stays unwritable must not freeze its partition); a dead letter
///   keeps being retried (the dead-letter topic is the operator's, its outage is theirs);
/// - permanent: a result becomes an `UNDELIVERABLE` dead letter, a dead letter is sent again
///   smaller; a dead-letter topic that refuses even the smallest one is fatal;
/// - fatal: the worker stops without committing past the request.
enum DeliveryDecision: Sendable {
    case abandon
    case retry(after: Duration)
    case replace(Outgoing)
    case fatal(String)

    static func after(
        _ error: KafkaError, delivering item: Outgoing, for source: KafkaConsumerMessage, attempt: Int,
        failingFor age: Duration = .zero, maxRetryAge: Duration = .seconds(300), maxBackoff: Duration,
        deadLetters: DeadLetterComposer
    ) -> DeliveryDecision {
        if error.kind == .closed { return .abandon }
        switch error.disposition {
        case .retriable:
            if age >= maxRetryAge, case .result = item.role {
                let reason = DeadLetterReason.undeliverable(topic: item.message.topic, error: error)
                return .replace(Outgoing(role: .deadLetter(reason, .whole), message: deadLetters.compose(for: source, reason: reason)))
            }
            return .retry(after: backoff(afterAttempt: attempt, max: maxBackoff))
        case .fatal:
            return .fatal("producer: \(error)")
        case .permanent:
            switch item.role {
            case .result:
                let reason = DeadLetterReason.undeliverable(topic: item.message.topic, error: error)
                return .replace(Outgoing(role: .deadLetter(reason, .whole), message: deadLetters.compose(for: source, reason: reason)))
            case .deadLetter(let reason, let form):
                guard let smaller = form.smaller else {
                    return .fatal(
                        "the dead-letter topic refuses even a minimal dead letter (\(source.topic)/\(source.partition)/\(source.offset)): \(error)")
                }
                return .replace(Outgoing(role: .deadLetter(reason, smaller), message: deadLetters.compose(for: source, reason: reason, form: smaller)))
            }
        }
    }

    /// The delay before attempt `attempt + 1`: 10 ms doubling, at most `max`.
    static func backoff(afterAttempt attempt: Int, max: Duration) -> Duration {
        let doubled = Duration.milliseconds(10) * (1 << Swift.min(Swift.max(attempt - 1, 0), 20))
        return Swift.min(doubled, max)
    }
}
