import Kafka
import ModerationProto

/// Kafka headers are what `RequestEnvelope.open` reads (ModerationProto knows no Kafka types).
extension KafkaHeader: RecordHeaderProtocol {}
