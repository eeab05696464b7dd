// The Kafka layer over librdkafka (issue 2).
