import Kafka
import XCTest

@testable import Worker

/// The API servers' stops are part of a worker's stop bound (issue 22): the HTTP API's close
/// and the gRPC server's bounded stop are counted, so `--shutdown-limit-ms` is checked
/// against a stop that includes them.
final class ShutdownBoundAPITests: XCTestCase {
    private func configuration() -> WorkerConfiguration {
        WorkerConfiguration(
            kafka: KafkaConfiguration(bootstrapServers: ["127.0.0.1:1"]), groupID: "g", inputTopics: ["in"], outputTopic: "out",
            deadLetterTopic: "dlq")
    }

    func testAPIServerStopsAreCountedInBothKindsOfStop() {
        let plain = configuration()
        var served = configuration()
        served.apiServerStops = ShutdownBound.apiSteps(httpStop: .seconds(2), grpc: true)
        XCTAssertEqual(served.apiServerStops.map(\.name), ["HTTP API server stop", "gRPC server stop"])
        XCTAssertEqual(served.shutdownBound.graceful, plain.shutdownBound.graceful + .seconds(2) + ShutdownBound.grpcServerStop)
        XCTAssertEqual(served.shutdownBound.fatal, plain.shutdownBound.fatal + .seconds(2) + ShutdownBound.grpcServerStop)
        XCTAssertEqual(served.shutdownLimit, served.shutdownBound.graceful + WorkerConfiguration.shutdownMargin)
        XCTAssertTrue(served.shutdownBound.description.contains("gRPC server stop 2 s"), served.shutdownBound.description)
        XCTAssertEqual(ShutdownBound.apiSteps(httpStop: nil, grpc: false), [], "no API, nothing added")
        XCTAssertEqual(ShutdownBound.apiSteps(httpStop: .milliseconds(1500), grpc: false).map(\.limit), [.milliseconds(1500)])
    }

    func testALimitThatFitsOnlyWithoutTheAPIIsRefused() {
        var served = configuration()
        served.shutdownLimitOverride = configuration().shutdownBound.graceful + WorkerConfiguration.shutdownMargin
        XCTAssertNoThrow(try served.validate(batchTokenBudget: 8_192))
        served.apiServerStops = ShutdownBound.apiSteps(httpStop: .seconds(2), grpc: true)
        XCTAssertThrowsError(try served.validate(batchTokenBudget: 8_192)) { error in
            XCTAssertTrue("\(error)".contains("--shutdown-limit-ms"), "\(error)")
        }
    }
}
