import Foundation
import Kafka
import ModerationProto
import Synchronization
import XCTest

/// Issue 13: SIGTERM at random moments and a network partition, with the real `duoguard`
/// binary and a real broker. Every request must be answered in the end (none lost), and every
/// stop must be a clean, bounded exit.
///
/// `DUOGUARD_FAULT_MODEL` runs them with another model file (e.g. the full-size 1B GGUF)
/// instead of the tiny fixture.
final class WorkerFaultTests: XCTestCase {
    private var model: String {
        get throws { try ProcessInfo.processInfo.environment["DUOGUARD_FAULT_MODEL"] ?? WorkerTestSupport.modelPath() }
    }

    /// SplitMix64: reproducible "random" moments (the seed is printed).
    private struct Moments {
        var state: UInt64
        mutating func next(in range: ClosedRange<Double>) -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return range.lowerBound + (range.upperBound - range.lowerBound) * Double(z >> 11) / Double(1 << 53)
        }
    }

    /// Produces `count` requests in the background, `perSecond` at a time.
    private func stream(
        _ count: Int, prefix: String, to topic: String, perSecond: Int, client: KafkaConfiguration = WorkerTestSupport.client
    ) -> Task<Void, Error> {
        Task {
            let producer = try KafkaProducer(
                configuration: KafkaProducerConfiguration(client: client, linger: .milliseconds(2), deliveryTimeout: .seconds(180)),
                logger: WorkerTestSupport.logger)
            var sent = 0
            while sent < count {
                let chunk = min(max(1, perSecond / 10), count - sent)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in sent..<(sent + chunk) {
                        let request = WorkerTestSupport.request(id: "\(prefix)-\(i)", text: "streamed request \(i)")
                        let message = KafkaProducerMessage(
                            topic: topic, key: Array(request.id.utf8), value: try ModerationCodec.encodeRequest(request, contentType: .protobuf))
                        group.addTask { try await producer.send(message) }
                    }
                    try await group.waitForAll()
                }
                sent += chunk
                try await Task.sleep(for: .milliseconds(100))
            }
            await producer.close()
        }
    }

    func testSIGTERMAtRandomMomentsAlwaysExitsCleanlyAndLosesNothing() async throws {
        let model = try model
        let topics = try await WorkerTestSupport.makeTopics(partitions: 4)
        let group = "g-\(UUID().uuidString.prefix(8))"
        let total = 2_400
        let seed = UInt64(ProcessInfo.processInfo.environment["DUOGUARD_FAULT_SEED"] ?? "") ?? 2_026
        var moments = Moments(state: seed)
        let producing = stream(total, prefix: "s", to: topics.input, perSecond: 200)
        let options = ["--lag-interval-ms", "100", "--commit-interval-ms", "200", "--drain-timeout-ms", "8000"]
        var report: [String] = []
        for round in 0..<6 {
            let worker = try WorkerTestSupport.spawnWorker(topics, group: group, model: model, id: "round-\(round)", extra: options)
            defer { ChildProcess.killIfRunning(worker) }
            // From before the group join (< 3 s) to well into answering.
            let delay = moments.next(in: 0.2...5.0)
            try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            let stopped = ContinuousClock.now
            worker.terminate()
            let status = await ChildProcess.waitForExit(worker, timeout: .seconds(40), "worker \(round) after SIGTERM")
            let took = ContinuousClock.now - stopped
            report.append(String(format: "round %d: SIGTERM after %.2f s, exit %@ in %@", round, delay, status.map { "\($0)" } ?? "none", "\(took)"))
            XCTAssertEqual(status, 0, "round \(round): SIGTERM after \(delay) s exits 0")
            XCTAssertLessThan(took, .seconds(8 + 15), "round \(round): within the drain bound")
        }
        try await producing.value
        let last = try WorkerTestSupport.spawnWorker(topics, group: group, model: model, id: "final", extra: options)
        defer { ChildProcess.killIfRunning(last) }
        let collector = WorkerTestSupport.KeyCollector(Set((0..<total).map { "s-\($0)" }))
        let messages = try await WorkerTestSupport.read(topics.output, timeout: .seconds(300)) { collector.saw($0) }
        let ids = try WorkerTestSupport.decodeResults(messages).map(\.requestID)
        print("SIGTERM test (seed \(seed)):\n  " + report.joined(separator: "\n  "))
        print("SIGTERM test: \(total) requests, \(Set(ids).count) answered, duplicates \(ids.count - Set(ids).count)")
        XCTAssertEqual(Set(ids).count, total, "nothing lost across six SIGTERMs")
        last.terminate()
        let status = await ChildProcess.waitForExit(last, timeout: .seconds(40), "final worker after SIGTERM")
        XCTAssertEqual(status, 0)
    }

    /// The broker link is cut for 20 s (the relay in front of the broker is SIGSTOPped) while
    /// requests stream in: the worker recovers by itself and answers every request.
    func testNetworkPartitionOfTwentySecondsLosesNothing() async throws {
        let model = try model
        let broker = try await LocalBroker.start(port: 9_392, tansuPort: 19_392)
        defer { broker.stop() }
        let client = KafkaConfiguration(bootstrapServers: [broker.address], clientID: "partition-test")
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let topics = WorkerTestSupport.Topics(input: "req-\(suffix)", output: "res-\(suffix)", deadLetters: "dlq-\(suffix)", reply: "reply-\(suffix)")
        let admin = try KafkaAdmin(configuration: client, logger: WorkerTestSupport.logger)
        try await admin.createTopics([
            .init(name: topics.input, partitions: 2), .init(name: topics.output, partitions: 1), .init(name: topics.deadLetters, partitions: 1),
        ])
        let worker = try WorkerTestSupport.spawnWorker(
            topics, group: "g-\(suffix)", model: model, id: "partitioned", brokers: broker.address,
            extra: ["--commit-interval-ms", "200", "--lag-interval-ms", "500"])
        defer { ChildProcess.killIfRunning(worker) }
        let total = 1_000
        let producing = stream(total, prefix: "n", to: topics.input, perSecond: 25, client: client)

        let collector = WorkerTestSupport.KeyCollector(Set((0..<total).map { "n-\($0)" }))
        let answered = Atomic<Int>(0)
        let reading = Task {
            try await WorkerTestSupport.read(topics.output, timeout: .seconds(240), client: client) { message in
                answered.add(1, ordering: .relaxed)
                return collector.saw(message)
            }
        }
        try await Task.sleep(for: .seconds(12))
        let before = answered.load(ordering: .relaxed)
        XCTAssertGreaterThan(before, 0, "results flow before the partition")
        try broker.pauseLink()
        try await Task.sleep(for: .seconds(20))
        try broker.resumeLink()
        let messages = try await reading.value
        try await producing.value
        let ids = try WorkerTestSupport.decodeResults(messages).map(\.requestID)
        print("partition test: \(before) results before the 20 s cut, \(Set(ids).count)/\(total) answered, duplicates \(ids.count - Set(ids).count)")
        XCTAssertEqual(Set(ids).count, total, "nothing lost across the partition")
        XCTAssertNil(ChildProcess.exitStatus(worker), "the worker recovered by itself (still running)")
        worker.terminate()
        let status = await ChildProcess.waitForExit(worker, timeout: .seconds(60), "worker after SIGTERM")
        XCTAssertEqual(status, 0)
    }
}

/// A second local broker (scripts/broker.sh on other ports) that a test may partition
/// without disturbing the shared one.
struct LocalBroker {
    let port: Int
    let tansuPort: Int
    var address: String { "127.0.0.1:\(port)" }
    private var environment: [String: String] {
        ProcessInfo.processInfo.environment.merging(
            ["DUOGUARD_BROKER_PORT": "\(port)", "DUOGUARD_TANSU_PORT": "\(tansuPort)"], uniquingKeysWith: { $1 })
    }

    static func start(port: Int, tansuPort: Int) async throws -> LocalBroker {
        let broker = LocalBroker(port: port, tansuPort: tansuPort)
        let script = WorkerTestSupport.root.appendingPathComponent("scripts/broker.sh").path
        let (status, output) = try await ChildProcess.capture(
            "/bin/bash", [script, "start"], timeout: .seconds(120), mergingStandardError: true, environment: broker.environment)
        guard status == 0 else {
            XCTFail("could not start a second local broker: \(String(decoding: output, as: UTF8.self))")
            throw CancellationError()
        }
        return broker
    }

    private var relayPID: pid_t? {
        let path = WorkerTestSupport.root.appendingPathComponent(".run/broker-\(port)/relay.pid").path
        return (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Freezes the relay: connections stay open, nothing flows (a network partition).
    func pauseLink() throws {
        guard let pid = relayPID, kill(pid, SIGSTOP) == 0 else { throw CancellationError() }
    }

    func resumeLink() throws {
        guard let pid = relayPID, kill(pid, SIGCONT) == 0 else { throw CancellationError() }
    }

    func stop() {
        if let pid = relayPID { kill(pid, SIGCONT) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [WorkerTestSupport.root.appendingPathComponent("scripts/broker.sh").path, "stop"]
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        try? process.run()
        ChildProcess.waitForExitBlocking(process, timeout: .seconds(60), "broker.sh stop")
    }
}
