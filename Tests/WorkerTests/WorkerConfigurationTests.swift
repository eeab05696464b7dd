import Inference
import Kafka
import ModerationProto
import Worker
import XCTest

/// Settings that used to be checked or derived outside `WorkerConfiguration` (the command
/// line checked `--cloudevents-source`, `ModerationWorker` derived the consumer's timeouts):
/// now the configuration type owns them, so every entry (CLI, environment, tests) gets the
/// same rule and the same typed error.
final class WorkerConfigurationTests: XCTestCase {
    private func configuration() -> WorkerConfiguration {
        WorkerConfiguration(
            kafka: KafkaConfiguration(bootstrapServers: ["127.0.0.1:1"]), groupID: "g", inputTopics: ["in"], outputTopic: "out",
            deadLetterTopic: "dlq")
    }

    private func problem(_ configuration: WorkerConfiguration) -> ConfigurationError? {
        do {
            try configuration.validate(batchTokenBudget: 2_048)
            return nil
        } catch {
            return error
        }
    }

    func testCloudEventsSourceMustBeVisibleASCIIOfBoundedLength() {
        var configuration = configuration()
        configuration.resultEnvelope.cloudEvents = CloudEventOutput()
        XCTAssertNil(problem(configuration), "the default source is valid")
        configuration.resultEnvelope.cloudEvents = CloudEventOutput(source: "https://example.com/duoguard?x=1")
        XCTAssertNil(problem(configuration))
        configuration.resultEnvelope.cloudEvents = CloudEventOutput(source: String(repeating: "a", count: 1_024))
        XCTAssertNil(problem(configuration), "1024 characters is the limit, inclusive")
        for bad in ["", "has space", "new\nline", "caf\u{E9}", String(repeating: "a", count: 1_025), "tab\there"] {
            configuration.resultEnvelope.cloudEvents = CloudEventOutput(source: bad)
            let error = problem(configuration)
            XCTAssertEqual(error?.setting, "--cloudevents-source", "\(bad.debugDescription) must be refused, got \(String(describing: error))")
        }
        configuration.resultEnvelope.cloudEvents = nil
        XCTAssertNil(problem(configuration), "no CloudEvents: no source to check")
    }

    func testConsumerTimeoutsAreDerivedFromTheConfiguration() {
        var configuration = configuration()
        var consumer = configuration.consumerConfiguration
        XCTAssertEqual(consumer.sessionTimeout, .seconds(45))
        XCTAssertEqual(consumer.heartbeatInterval, .seconds(3), "librdkafka's default while the session allows it")
        XCTAssertEqual(consumer.revokeTimeout, .seconds(35), "the drain (30 s) + 5 s for the revoke's commit")
        XCTAssertEqual(consumer.closeTimeout, ShutdownBound.consumerClose(commitTimeout: .seconds(5)))
        XCTAssertEqual(consumer.autoCommitInterval, .seconds(5))
        XCTAssertEqual(consumer.client.clientID, "duoguard-worker-\(configuration.workerID)")
        XCTAssertFalse(consumer.reportsPartitionEnd, "a worker runs until stopped")

        configuration.sessionTimeout = .seconds(6)
        configuration.drainTimeout = .seconds(2)
        configuration.commitTimeout = .seconds(1)
        configuration.maxRequestBytes = 8_000_000
        configuration.workerID = "w1"
        consumer = configuration.consumerConfiguration
        XCTAssertEqual(consumer.heartbeatInterval, .seconds(1), "a sixth of a short session")
        XCTAssertEqual(consumer.revokeTimeout, .seconds(7))
        XCTAssertEqual(consumer.closeTimeout, ShutdownBound.consumerClose(commitTimeout: .seconds(1)))
        XCTAssertEqual(consumer.maxMessageBytes, 8_000_000, "records up to --max-request-bytes must be fetchable")
        XCTAssertEqual(consumer.client.clientID, "duoguard-worker-w1")
        let bound = configuration.shutdownBound
        XCTAssertTrue(
            bound.steps.contains { $0.limit == consumer.closeTimeout },
            "the stop's bound counts the consumer's close as the consumer is configured: \(bound)")
    }
}
