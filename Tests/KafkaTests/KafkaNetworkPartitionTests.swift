import Foundation
import Kafka
import TestSupport
import XCTest

/// A network partition between the clients and the broker, for real: the test's own broker
/// (never the shared one other tests use) has its relay stopped with SIGSTOP for 20 s in
/// the middle of a stream, then resumed. Consumer and producer must recover by themselves,
/// lose nothing, and raise no fatal error.
///
/// The broker: `DUOGUARD_PARTITION_BROKER_PORT` (default 9292) and
/// `DUOGUARD_PARTITION_TANSU_PORT` (default 19292), started with scripts/broker.sh if it is
/// not running (and then stopped at the end).
final class KafkaNetworkPartitionTests: XCTestCase {
    private static let root = RepositoryRoot.url
    private static let environment = ProcessInfo.processInfo.environment
    private static let port = environment["DUOGUARD_PARTITION_BROKER_PORT"] ?? "9292"
    private static let tansuPort = environment["DUOGUARD_PARTITION_TANSU_PORT"] ?? "19292"

    /// Runs scripts/broker.sh (bounded: killed after 60 s).
    private func broker(_ command: String) async throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.root.appendingPathComponent("scripts/broker.sh").path, command]
        process.environment = Self.environment.merging(
            ["DUOGUARD_BROKER_PORT": Self.port, "DUOGUARD_TANSU_PORT": Self.tansuPort]) { _, new in new }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        await KafkaTestSupport.waitForExit(process, timeout: .seconds(60))
        return ChildProcess.exitStatus(process) ?? -1
    }

    func testRelayPausedTwentySecondsMidStreamLosesNothingAndRaisesNoFatalError() async throws {
        let wasRunning = try await broker("status") == 0
        if !wasRunning {
            let started = try await broker("start")
            XCTAssertEqual(started, 0, "scripts/broker.sh start on port \(Self.port)")
            guard started == 0 else { return }
        }
        let pidFile = Self.root.appendingPathComponent(".run/broker-\(Self.port)/relay.pid").path
        guard let relayPID = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }),
            relayPID > 1
        else {
            return XCTFail("no relay pid in \(pidFile)")
        }
        // Whatever happens below, the relay is never left stopped.
        defer { kill(relayPID, SIGCONT) }
        var client = KafkaTestSupport.client
        client.bootstrapServers = ["127.0.0.1:\(Self.port)"]
        let topic = KafkaTestSupport.uniqueName("partition")
        let admin = try KafkaAdmin(configuration: client, logger: KafkaTestSupport.logger)
        try await admin.createTopics([.init(name: topic, partitions: 2)])

        var consumerConfiguration = KafkaTestSupport.consumerConfiguration(group: KafkaTestSupport.uniqueName("g"), autoCommit: true)
        consumerConfiguration.client = client
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: KafkaTestSupport.logger)
        try consumer.subscribe(topics: [topic])
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: client, linger: .milliseconds(1), deliveryTimeout: .seconds(120)),
            logger: KafkaTestSupport.logger)

        // What librdkafka reports during the partition.
        let consumerEvents = Locked<[String]>([])
        let listener = Task {
            for await event in consumer.events {
                switch event {
                case .error(let error): consumerEvents.update { $0.append("error \(error.name) (\(error.disposition)): \(error.message)") }
                case .partitionsLost(let partitions): consumerEvents.update { $0.append("lost \(partitions.count)") }
                case .partitionsRevoked(let partitions, let ack):
                    consumerEvents.update { $0.append("revoked \(partitions.count)") }
                    ack.acknowledge()
                case .partitionsAssigned(let partitions): consumerEvents.update { $0.append("assigned \(partitions.count)") }
                }
            }
        }
        let producerErrors = Locked<[String]>([])
        let producerErrorReader = Task {
            for await error in producer.errors { producerErrors.update { $0.append("\(error.name) (\(error.disposition)): \(error.message)") } }
        }
        let received = Locked<Set<String>>([])
        let duplicates = Locked(0)
        let reader = Task {
            for await message in consumer.messages {
                let inserted = received.update { $0.insert(message.text).inserted }
                if !inserted { duplicates.update { $0 += 1 } }
                try? consumer.storeOffset(message)
            }
        }
        try await KafkaTestSupport.waitUntil("assignment on the test's own broker") { consumer.assignment.count == 2 }

        // The stream: one message every 50 ms for 16 s; the relay stops after 3 s for 20 s.
        let count = 320
        let sender = Task { () -> [String] in
            await withTaskGroup(of: String?.self) { group in
                for i in 0..<count {
                    group.addTask {
                        do throws(KafkaError) {
                            try await producer.send(KafkaProducerMessage(topic: topic, key: Array("k\(i)".utf8), value: Array("p-\(i)".utf8)))
                            return nil
                        } catch {
                            return "p-\(i): \(error)"
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(50))
                }
                var failures: [String] = []
                for await failure in group { if let failure { failures.append(failure) } }
                return failures
            }
        }
        try await Task.sleep(for: .seconds(3))
        let beforePause = received.value.count
        XCTAssertEqual(kill(relayPID, SIGSTOP), 0, "SIGSTOP relay \(relayPID)")
        let pausedAt = ContinuousClock.now
        do {
            try await Task.sleep(for: .seconds(20))
        } catch {}
        let duringPause = received.value.count
        XCTAssertEqual(kill(relayPID, SIGCONT), 0, "SIGCONT relay \(relayPID)")
        print("network partition: relay stopped for \(ContinuousClock.now - pausedAt); read \(beforePause) before, \(duringPause - beforePause) during")

        let failures = try await BoundedWait.within(.seconds(180), "every send completes after the relay resumed") { await sender.value }
        XCTAssertEqual(failures, [], "every message delivered by the producer on its own")
        try await KafkaTestSupport.waitUntil("every message read after the relay resumed", timeout: .seconds(120)) {
            received.value.count == count
        }
        XCTAssertEqual(received.value, Set((0..<count).map { "p-\($0)" }), "nothing lost")
        XCTAssertNil(producer.fatalError, "no fatal producer error")
        XCTAssertNil(consumer.fatalError, "no fatal consumer error")

        reader.cancel()
        await KafkaTestSupport.close(producer)
        await KafkaTestSupport.close(consumer)
        listener.cancel()
        producerErrorReader.cancel()
        let events = consumerEvents.value
        XCTAssertFalse(events.contains { $0.contains("(fatal)") }, "\(events)")
        print("network partition: \(count) sent, \(received.value.count) read, \(duplicates.value) read twice (at-least-once)")
        print("network partition: consumer events:\n  " + events.joined(separator: "\n  "))
        print("network partition: producer errors:\n  " + producerErrors.value.joined(separator: "\n  "))
        if !wasRunning { _ = try await broker("stop") }
    }
}
