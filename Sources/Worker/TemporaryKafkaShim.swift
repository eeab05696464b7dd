// TEMPORARY: stands in for the Kafka layer's API being added on the `kafka` branch
// (assignment epochs, error dispositions). Deleted when that branch is merged.
import Kafka

extension KafkaConsumerMessage {
    var assignmentEpoch: UInt64 { 0 }
}

extension KafkaError {
    enum Disposition { case retriable, permanent, fatal }
    var disposition: Disposition {
        if isFatal { return .fatal }
        if isRetriable { return .retriable }
        return .permanent
    }
    var isClosing: Bool { kind == .closed || name.hasPrefix("_PURGE") }
}
