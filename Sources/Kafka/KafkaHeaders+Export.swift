/// `KafkaHeader` is part of the Kafka client's API (messages carry it): users of `Kafka` get
/// it without importing its own small target (which exists so that the envelope layer can
/// share the type without librdkafka).
@_exported import KafkaHeaders
