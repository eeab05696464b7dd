import Foundation
import Kafka
import TestSupport
import XCTest

/// The worker never creates topics, so its own output and dead-letter topics must exist
/// before it starts: a missing one is a start-up error naming the flag and the topic (exit 1),
/// not a fatal stop (or a dead-lettered request) once the first request comes. Real broker.
final class WorkerStartupTopicsTests: XCTestCase {
    private func start(_ topics: WorkerTestSupport.Topics) async throws -> (status: Int32?, output: String) {
        let (status, output) = try await ChildProcess.capture(
            try WorkerTestSupport.binary,
            [
                "worker", "--brokers", WorkerTestSupport.brokers, "--group", "g-\(UUID().uuidString.prefix(8))",
                "--input-topic", topics.input, "--output-topic", topics.output, "--dlq-topic", topics.deadLetters,
                "--model", try WorkerTestSupport.modelPath(), "--metrics-port", "0", "--log-level", "warning",
            ],
            timeout: .seconds(90), mergingStandardError: true)
        return (status, String(decoding: output, as: UTF8.self))
    }

    func testAMissingOutputOrDeadLetterTopicFailsTheStartNamingIt() async throws {
        let existing = try await WorkerTestSupport.makeTopics(partitions: 1)
        let suffix = UUID().uuidString.prefix(8).lowercased()
        var noOutput = existing
        noOutput.output = "absent-out-\(suffix)"
        var noDeadLetters = existing
        noDeadLetters.deadLetters = "absent-dlq-\(suffix)"
        for (topics, flag, name) in [(noOutput, "--output-topic", noOutput.output), (noDeadLetters, "--dlq-topic", noDeadLetters.deadLetters)] {
            let started = ContinuousClock.now
            let (status, output) = try await start(topics)
            XCTAssertEqual(status, 1, "a start-up error: \(output)")
            XCTAssertTrue(output.contains("\(flag) '\(name)' does not exist"), output)
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(60), "at start, not after a request")
        }
        // And it created neither (the check lists topics; it names none).
        let admin = try KafkaAdmin(configuration: WorkerTestSupport.client, logger: WorkerTestSupport.logger)
        let names = Set(try await admin.listTopics().keys)
        XCTAssertFalse(names.contains(noOutput.output) || names.contains(noDeadLetters.deadLetters), "no topic created")
    }
}
