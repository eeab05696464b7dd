import Kafka

// The Kafka producer as the worker core's record sink (RecordSink.swift).

extension KafkaProducer: RecordSink {
    func produce(_ message: KafkaProducerMessage, delivered: @escaping @Sendable (Result<Void, KafkaError>) -> Void) throws(KafkaError) {
        try produce(message) { (result: Result<KafkaDeliveryReport, KafkaError>) in delivered(result.map { _ in () }) }
    }
}
