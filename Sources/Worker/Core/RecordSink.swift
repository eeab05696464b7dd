import Kafka

/// Where the worker's results and dead letters go: produce one record and learn, later, whether
/// the broker acknowledged it. The Kafka producer in production, a scripted fake in the
/// simulator (seam of the worker core).
protocol RecordSink: Sendable {
    func produce(_ message: KafkaProducerMessage, delivered: @escaping @Sendable (Result<Void, KafkaError>) -> Void) throws(KafkaError)
}
