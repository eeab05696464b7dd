import CRdKafka

/// Every copy between librdkafka's `rd_kafka_message_t` / headers and our Swift values, in
/// one place: consumed messages out, produced headers in, delivery reports out.
///
/// Lengths come from librdkafka (which has parsed and bounded them against
/// `receive.message.max.bytes`); the copies below are exactly those lengths.
enum RdKafkaMessage {
    /// What one `rd_kafka_consumer_poll` result is.
    enum Polled {
        case message(KafkaConsumerMessage)
        /// An error delivered in place of a message (fetch failure, fatal error, ...).
        case error(KafkaError)
        /// Informational (end of partition): nothing for the application.
        case nothing
    }

    /// Copies a consumed message out of librdkafka, stamped with the assignment epoch of its
    /// partition (`epoch(topicPartition)`, read on the poll thread that also runs rebalances).
    static func copy(
        _ message: UnsafePointer<rd_kafka_message_t>, handle: OpaquePointer,
        epoch: (KafkaTopicPartition) -> UInt64
    ) -> Polled {
        let m = message.pointee
        if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return .nothing }
            let detail = m.payload.map {
                String(decoding: UnsafeRawBufferPointer(start: $0, count: m.len), as: UTF8.self)
            }
            var error = KafkaError(code: m.err, context: "consume", detail: detail)
            if let fatal = RdKafkaClient.fatalError(of: handle) { error = fatal }
            return .error(error)
        }
        let topic = topicName(m.rkt)
        let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) }
        let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return .message(
            KafkaConsumerMessage(
                topic: topic, partition: m.partition, offset: m.offset, key: key, value: value,
                headers: headers(of: message),
                timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp,
                assignmentEpoch: epoch(KafkaTopicPartition(topic: topic, partition: m.partition))))
    }

    /// The headers of a message, in order (repeats kept; a null value stays `nil`).
    static func headers(of message: UnsafePointer<rd_kafka_message_t>) -> [KafkaHeader] {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else {
            return []
        }
        var result: [KafkaHeader] = []
        var index = 0
        while true {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR,
                let name
            else { break }
            let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
            result.append(KafkaHeader(key: String(cString: name), value: bytes))
            index += 1
        }
        return result
    }

    /// A new `rd_kafka_headers_t` holding copies of `headers`; `nil` when there are none.
    /// The caller owns it until librdkafka accepts the message.
    static func makeHeaders(_ headers: [KafkaHeader]) -> OpaquePointer? {
        guard !headers.isEmpty else { return nil }
        let list = rd_kafka_headers_new(headers.count)
        for header in headers {
            if let value = header.value {
                value.withUnsafeBytes { bytes in
                    _ = rd_kafka_header_add(list, header.key, -1, bytes.baseAddress, bytes.count)
                }
            } else {
                _ = rd_kafka_header_add(list, header.key, -1, nil, 0)
            }
        }
        return list
    }

    /// The outcome of a produced message, from its delivery report.
    static func deliveryResult(
        _ message: UnsafePointer<rd_kafka_message_t>, handle: OpaquePointer
    ) -> Result<KafkaDeliveryReport, KafkaError> {
        let m = message.pointee
        let topic = topicName(m.rkt)
        guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            var error = KafkaError(code: m.err, context: "delivery to \(topic.isEmpty ? "?" : topic)")
            // Once librdkafka has raised a fatal error, every failure is a consequence of it.
            if RdKafkaClient.fatalError(of: handle) != nil { error.markFatal() }
            return .failure(error)
        }
        return .success(KafkaDeliveryReport(topic: topic, partition: m.partition, offset: m.offset))
    }

    static func topicName(_ topic: OpaquePointer?) -> String {
        topic.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
    }
}
