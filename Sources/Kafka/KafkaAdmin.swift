import CRdKafka
import Dispatch
import Logging

/// Topic administration: create and list topics.
public final class KafkaAdmin: Sendable {
    /// A topic to create.
    public struct TopicSpecification: Sendable, Hashable {
        public var name: String
        /// Default: 1.
        public var partitions: Int
        /// Default: 1 (a single-broker development cluster). Production clusters want 3.
        public var replicationFactor: Int
        /// Topic-level configs (`retention.ms`, `cleanup.policy`, ...). Default: empty.
        public var configs: [String: String]

        public init(name: String, partitions: Int = 1, replicationFactor: Int = 1, configs: [String: String] = [:]) {
            self.name = name
            self.partitions = partitions
            self.replicationFactor = replicationFactor
            self.configs = configs
        }
    }

    private let configuration: KafkaConfiguration
    private let client: RdKafkaClient

    public init(configuration: KafkaConfiguration, logger: Logger = Logger(label: "duoguard.kafka")) throws(KafkaError) {
        self.configuration = configuration
        self.client = try RdKafkaClient(
            kind: .producer, properties: configuration.librdkafkaProperties,
            callbacks: RdKafkaCallbacks(logger: logger))
    }

    deinit {
        // No call can be in flight: each one holds this object until it returns.
        client.destroy()
    }

    /// Topics and their partition counts; fails within `timeout` (default: the configuration's
    /// `connectTimeout`) when no broker answers.
    public func listTopics(timeout: Duration? = nil) async throws(KafkaError) -> [String: Int] {
        try await client.topics(timeout: timeout ?? configuration.connectTimeout)
    }

    /// Creates topics. With `ifNotExists` (the default), an existing topic is not an error.
    public func createTopics(
        _ topics: [TopicSpecification], ifNotExists: Bool = true, timeout: Duration = .seconds(30)
    ) async throws(KafkaError) {
        guard !topics.isEmpty else { return }
        try await client.blocking { handle throws(KafkaError) in
            try Self.create(topics, ifNotExists: ifNotExists, timeout: timeout, handle: handle)
        }
    }

    private static func create(
        _ topics: [TopicSpecification], ifNotExists: Bool, timeout: Duration, handle: OpaquePointer
    ) throws(KafkaError) {
        var errorBuffer = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for spec in topics {
            guard let topic = rd_kafka_NewTopic_new(
                spec.name, Int32(clamping: spec.partitions), Int32(clamping: spec.replicationFactor), &errorBuffer, errorBuffer.count)
            else {
                throw .configuration("topic '\(spec.name)': \(errorBuffer.nulTerminatedString)")
            }
            newTopics.append(topic)
            for (key, value) in spec.configs.sorted(by: { $0.key < $1.key }) {
                let code = rd_kafka_NewTopic_set_config(topic, key, value)
                guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw KafkaError(code: code, context: "topic '\(spec.name)' config \(key)")
                }
            }
        }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        let milliseconds = Int32(clamping: timeout.milliseconds)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, milliseconds, &errorBuffer, errorBuffer.count)
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, milliseconds, &errorBuffer, errorBuffer.count)
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(handle, buffer.baseAddress, buffer.count, options, queue)
        }
        // Wait a little longer than the request itself so its own timeout error wins.
        guard let event = rd_kafka_queue_poll(queue, milliseconds.addingReportingOverflow(2_000).overflow ? Int32.max : milliseconds + 2_000) else {
            throw KafkaError(kind: .timeout, message: "create topics: no answer within \(timeout)")
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        guard eventError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) }
            throw KafkaError(code: eventError, context: "create topics", detail: text)
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(kind: .librdkafka, message: "create topics: unexpected event type")
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for index in 0..<count {
            let topicResult = results[index]
            let code = rd_kafka_topic_result_error(topicResult)
            if code == RD_KAFKA_RESP_ERR_NO_ERROR { continue }
            if code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && ifNotExists { continue }
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let text = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) }
            throw KafkaError(code: code, context: "create topic '\(name)'", detail: text)
        }
    }

}
