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
        /// librdkafka's partition EOF: everything below `offset` (the high watermark then,
        /// control records included) has been delivered.
        case endOfPartition(KafkaConsumerMessage)
        /// Nothing for the application.
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
            if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                guard m.rkt != nil else { return .nothing }
                let topic = topicName(m.rkt)
                var marker = KafkaConsumerMessage(
                    topic: topic, partition: m.partition, offset: m.offset,
                    assignmentEpoch: epoch(KafkaTopicPartition(topic: topic, partition: m.partition)))
                marker.isEndOfPartition = true
                return .endOfPartition(marker)
            }
            let detail = m.payload.map {
                String(decoding: UnsafeRawBufferPointer(start: $0, count: m.len), as: UTF8.self)
            }
            var error = KafkaError(code: m.err, context: "consume", detail: detail)
            if let fatal = RdKafkaClient.fatalError(of: handle) { error = fatal }
            // Records librdkafka read but could not decode are skipped by it (the fetch goes
            // on after them): hand them over in order, as a stand-in message, so the
            // application dead-letters their coordinates before committing past them.
            if m.rkt != nil, skipsRecords(m.err, offset: m.offset), !error.isFatal {
                let topic = topicName(m.rkt)
                var standIn = KafkaConsumerMessage(
                    topic: topic, partition: m.partition, offset: m.offset,
                    assignmentEpoch: epoch(KafkaTopicPartition(topic: topic, partition: m.partition)))
                standIn.unreadable = .init(code: error.name, message: error.description)
                return .message(standIn)
            }
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

    /// Whether a consumer error with `code` at `offset` means librdkafka skipped the records
    /// there: a batch it could not decompress (`_BAD_COMPRESSION`, an unknown codec
    /// `_NOT_IMPLEMENTED`, no memory to decompress `_CRIT_SYS_RESOURCE`) or a record failing
    /// its CRC (`_BAD_MSG`). librdkafka 2.0.2 (rdkafka_msgset_reader.c) reports each with the
    /// topic, partition and offset and continues fetching after it. Other errors (transport,
    /// unknown topic, offset reset) skip nothing the application could answer.
    static func skipsRecords(_ code: rd_kafka_resp_err_t, offset: Int64) -> Bool {
        guard offset >= 0 else { return false }
        switch code {
        case RD_KAFKA_RESP_ERR__BAD_COMPRESSION, RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED, RD_KAFKA_RESP_ERR__BAD_MSG,
            RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE:
            return true
        default:
            return false
        }
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
