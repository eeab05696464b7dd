import CRdKafka
import Foundation

/// Writes records inside one Kafka transaction with librdkafka's C API (the `Kafka` module
/// deliberately has no transactional producer, and passthrough may not set
/// `transactional.id`): the log then ends with a commit marker, a control record consumers
/// never receive. Test-only.
enum TransactionalWriter {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func write(_ records: [(key: [UInt8], value: [UInt8])], topic: String, brokers: String) throws {
        let conf = rd_kafka_conf_new()
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in [("bootstrap.servers", brokers), ("transactional.id", "tx-\(UUID().uuidString.prefix(8))")] {
            guard rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) == RD_KAFKA_CONF_OK else {
                throw Failure(description: "conf \(key): \(String(cString: errstr))")
            }
        }
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            throw Failure(description: "rd_kafka_new: \(String(cString: errstr))")
        }
        defer { rd_kafka_destroy(handle) }
        func check(_ error: OpaquePointer?, _ step: String) throws {
            guard let error else { return }
            defer { rd_kafka_error_destroy(error) }
            throw Failure(description: "\(step): \(String(cString: rd_kafka_error_string(error)))")
        }
        try check(rd_kafka_init_transactions(handle, 30_000), "init_transactions")
        try check(rd_kafka_begin_transaction(handle), "begin_transaction")
        let rkt = rd_kafka_topic_new(handle, topic, nil)
        defer { rd_kafka_topic_destroy(rkt) }
        for record in records {
            var value = record.value
            var key = record.key
            let status = value.withUnsafeMutableBytes { valueBytes in
                key.withUnsafeMutableBytes { keyBytes in
                    rd_kafka_produce(
                        rkt, 0, RD_KAFKA_MSG_F_COPY, valueBytes.baseAddress, valueBytes.count, keyBytes.baseAddress, keyBytes.count, nil)
                }
            }
            guard status == 0 else { throw Failure(description: "produce: \(String(cString: rd_kafka_err2str(rd_kafka_last_error())))") }
            rd_kafka_poll(handle, 0)
        }
        try check(rd_kafka_commit_transaction(handle, 30_000), "commit_transaction")
    }
}
