import CRdKafka
import Foundation
import Kafka
import XCTest
import TestSupport

/// The Kafka layer against librdkafka 2.0.2's in-process mock cluster (`test.mock.num.brokers`):
/// no broker, no relay, so these run anywhere in a second. They cover what the mock serves —
/// produce with acknowledgements and injected protocol errors (retried by librdkafka, or
/// reported with their disposition), a consumer group with commits — while the real-broker
/// tests stay for end to end (docs/kafka.md lists what the mock could not do).
final class KafkaMockClusterTests: XCTestCase {
    /// A mock cluster, owned by a bare librdkafka handle that lives as long as this object.
    private final class MockCluster: @unchecked Sendable {
        private let handle: OpaquePointer
        private let cluster: OpaquePointer
        let bootstrap: String

        init(brokers: Int = 1) throws {
            let conf = rd_kafka_conf_new()
            var error = [CChar](repeating: 0, count: 512)
            guard rd_kafka_conf_set(conf, "test.mock.num.brokers", "\(brokers)", &error, error.count) == RD_KAFKA_CONF_OK,
                let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &error, error.count)
            else { throw KafkaError(kind: .configuration, message: String(cString: error)) }
            guard let cluster = rd_kafka_handle_mock_cluster(handle) else {
                rd_kafka_destroy(handle)
                throw KafkaError(kind: .configuration, message: "no mock cluster")
            }
            self.handle = handle
            self.cluster = cluster
            bootstrap = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        }

        deinit { rd_kafka_destroy(handle) }

        func createTopic(_ name: String, partitions: Int) {
            XCTAssertEqual(rd_kafka_mock_topic_create(cluster, name, Int32(partitions), 1), RD_KAFKA_RESP_ERR_NO_ERROR)
        }

        /// The next `errors.count` Produce requests fail with these errors, in order.
        func failProduceRequests(_ errors: [rd_kafka_resp_err_t]) {
            errors.withUnsafeBufferPointer { rd_kafka_mock_push_request_errors_array(cluster, 0, $0.count, $0.baseAddress) }
        }

        var client: KafkaConfiguration {
            KafkaConfiguration(bootstrapServers: [bootstrap], clientID: "duoguard-mock-tests", connectTimeout: .seconds(10))
        }
    }

    private func producer(_ mock: MockCluster, deliveryTimeout: Duration = .seconds(10)) throws -> KafkaProducer {
        try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: mock.client, linger: .milliseconds(1), deliveryTimeout: deliveryTimeout),
            logger: KafkaTestSupport.logger)
    }

    func testProduceIsAcknowledgedAndRetriableProtocolErrorsAreRetriedByLibrdkafka() async throws {
        let mock = try MockCluster()
        mock.createTopic("mock-out", partitions: 2)
        let producer = try producer(mock)
        let first = try await BoundedWait.within(.seconds(30), "first delivery") {
            try await producer.send(KafkaProducerMessage(topic: "mock-out", partition: 0, value: Array("a".utf8)))
        }
        XCTAssertEqual(first.offset, 0)
        // Two leader moves: librdkafka retries them itself, the application sees one success.
        mock.failProduceRequests([RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION])
        let second = try await BoundedWait.within(.seconds(30), "delivery after two leader moves") {
            try await producer.send(KafkaProducerMessage(topic: "mock-out", partition: 0, value: Array("b".utf8)))
        }
        XCTAssertEqual(second.offset, 1)
        await KafkaTestSupport.close(producer)
    }

    func testAPermanentProduceErrorReachesTheDeliveryReportAsPermanent() async throws {
        let mock = try MockCluster()
        mock.createTopic("mock-refused", partitions: 1)
        let producer = try producer(mock)
        _ = try await BoundedWait.within(.seconds(30), "warm-up delivery") {
            try await producer.send(KafkaProducerMessage(topic: "mock-refused", partition: 0, value: [0]))
        }
        mock.failProduceRequests([RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED])
        do {
            _ = try await BoundedWait.within(.seconds(30), "refused delivery") {
                try await producer.send(KafkaProducerMessage(topic: "mock-refused", partition: 0, value: [1]))
            }
            XCTFail("delivered despite TOPIC_AUTHORIZATION_FAILED")
        } catch let error as KafkaError {
            XCTAssertEqual(error.name, "TOPIC_AUTHORIZATION_FAILED")
            XCTAssertEqual(error.disposition, .permanent)
        }
        await KafkaTestSupport.close(producer)
    }

    func testAGroupMemberIsAssignedReadsStoresAndCommits() async throws {
        let mock = try MockCluster()
        mock.createTopic("mock-in", partitions: 2)
        let producer = try producer(mock)
        for index in 0..<6 {
            _ = try await BoundedWait.within(.seconds(30), "seed \(index)") {
                try await producer.send(KafkaProducerMessage(topic: "mock-in", partition: Int32(index % 2), value: [UInt8(index)]))
            }
        }
        await KafkaTestSupport.close(producer)

        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                client: mock.client, groupID: "mock-group", sessionTimeout: .seconds(6), heartbeatInterval: .milliseconds(500),
                autoCommitInterval: nil, revokeTimeout: .seconds(5)),
            logger: KafkaTestSupport.logger)
        try consumer.subscribe(topics: ["mock-in"])
        let messages = try await KafkaTestSupport.collect(6, from: consumer)
        XCTAssertEqual(Set(messages.map(\.assignmentEpoch)), [1], "first assignment of both partitions")
        XCTAssertEqual(consumer.assignment.count, 2)
        for partition in Int32(0)..<2 {
            let tp = KafkaTopicPartition(topic: "mock-in", partition: partition)
            XCTAssertTrue(consumer.holdsLatestAssignment(tp, epoch: 1))
            XCTAssertFalse(consumer.holdsLatestAssignment(tp, epoch: 2))
        }
        try consumer.storeOffsets([KafkaTopicPartition(topic: "mock-in", partition: 0, offset: 2)])
        try await consumer.commit()
        let committed = try await consumer.committed([KafkaTopicPartition(topic: "mock-in", partition: 0)])
        XCTAssertEqual(committed.first?.offset, 2)
        await KafkaTestSupport.close(consumer)
    }
}
