import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Kafka
import ModerationProto
import Synchronization
import TestSupport
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

    /// Produces requests in the background, `perSecond` at a time, until `count` are sent or
    /// `until` says stop; the task's value is how many were sent.
    private func stream(
        _ count: Int, prefix: String, to topic: String, perSecond: Int, client: KafkaConfiguration = WorkerTestSupport.client,
        until stop: StopFlag? = nil
    ) -> Task<Int, Error> {
        Task {
            let producer = try KafkaProducer(
                configuration: KafkaProducerConfiguration(client: client, linger: .milliseconds(2), deliveryTimeout: .seconds(180)),
                logger: WorkerTestSupport.logger)
            var sent = 0
            while sent < count && !(stop?.isSet ?? false) {
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
            return sent
        }
    }

    func testSIGTERMAtRandomMomentsAlwaysExitsCleanlyAndLosesNothing() async throws {
        let model = try model
        let topics = try await WorkerTestSupport.makeTopics(partitions: 4)
        let group = "g-\(UUID().uuidString.prefix(8))"
        let seed = UInt64(ProcessInfo.processInfo.environment["DUOGUARD_FAULT_SEED"] ?? "") ?? 2_026
        var moments = SplitMix64(seed: seed)  // reproducible moments (the seed is printed)
        // Requests keep coming for as long as the rounds last.
        let stop = StopFlag()
        let producing = stream(1_000_000, prefix: "s", to: topics.input, perSecond: 150, until: stop)
        let options = ["--lag-interval-ms", "100", "--commit-interval-ms", "200", "--drain-timeout-ms", "8000"]
        var report: [String] = []
        for round in 0..<6 {
            let port = 19_500 + round
            let worker = try WorkerTestSupport.spawnWorker(
                topics, group: group, model: model, id: "round-\(round)", extra: options + ["--metrics-port", "\(port)"])
            defer { ChildProcess.killIfRunning(worker) }
            // A random moment once this worker is answering (mid-batch, mid-commit, mid-lag
            // query). SIGTERM during the group join is `testSIGTERMDuringStartAndGroupJoin`: on
            // the local broker a member leaving mid-join wedges its group (a tansu bug).
            let answering = try await answeringSince(port: port, within: .seconds(60))
            let delay = moments.next(in: 0.0...3.0)
            try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            let stopped = ContinuousClock.now
            worker.terminate()
            let status = await ChildProcess.waitForExit(worker, timeout: .seconds(40), "worker \(round) after SIGTERM")
            let took = ContinuousClock.now - stopped
            report.append(
                String(
                    format: "round %d: answering after %@, SIGTERM %.2f s later, exit %@ in %@", round, "\(answering)", delay,
                    status.map { "\($0)" } ?? "none", "\(took)"))
            XCTAssertEqual(status, 0, "round \(round): SIGTERM \(delay) s into answering exits 0")
            XCTAssertLessThan(took, .seconds(8 + 15), "round \(round): within the drain bound")
        }
        stop.set()
        let total = try await producing.value
        let last = try WorkerTestSupport.spawnWorker(topics, group: group, model: model, id: "final", extra: options)
        defer { ChildProcess.killIfRunning(last) }
        print("SIGTERM test (seed \(seed)):\n  " + report.joined(separator: "\n  "))
        var ids: [String] = []
        let deadline = ContinuousClock.now + .seconds(240)
        while ContinuousClock.now < deadline {
            ids = try WorkerTestSupport.decodeResults(try await WorkerTestSupport.readAll(topics.output)).map(\.requestID)
            if Set(ids).count >= total { break }
        }
        print("SIGTERM test: \(total) requests, \(Set(ids).count) answered, duplicates \(ids.count - Set(ids).count)")
        XCTAssertEqual(Set(ids).count, total, "nothing lost across six SIGTERMs")
        if Set(ids).count < total {
            let missing = Set((0..<total).map { "s-\($0)" }).subtracting(ids)
            let inputs = try await WorkerTestSupport.readAll(topics.input)
            let where_ = inputs.filter { missing.contains(String(decoding: $0.key ?? [], as: UTF8.self)) }
                .map { "\($0.partition)/\($0.offset)" }
            let committed = try await committedPositions(group: group, topic: topics.input, partitions: 4)
            print("SIGTERM test: missing \(missing.count): \(where_.sorted().prefix(40)); committed \(committed)")
        }
        last.terminate()
        let status = await ChildProcess.waitForExit(last, timeout: .seconds(40), "final worker after SIGTERM")
        XCTAssertEqual(status, 0)
    }

    /// Waits until the worker whose metrics are on `port` has produced a result; returns how
    /// long that took.
    private func answeringSince(port: Int, within limit: Duration) async throws -> Duration {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < limit {
            if let (data, _) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!),
                let text = String(data: data, encoding: .utf8),
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix("duoguard_results_produced_total ") }),
                let value = Double(line.split(separator: " ").last ?? ""), value > 0
            {
                return ContinuousClock.now - started
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTFail("the worker on port \(port) produced nothing within \(limit)")
        throw CancellationError()
    }

    /// SIGTERM while the worker loads, connects and joins its group: a clean, quick exit (no
    /// partitions yet, nothing to drain). Each worker has a group of its own. (A signal in the
    /// first few milliseconds, before the process reaches `main`, gets the system's default
    /// action: exit by signal, with nothing started.)
    func testSIGTERMDuringStartAndGroupJoin() async throws {
        let model = try model
        let topics = try await WorkerTestSupport.makeTopics(partitions: 2)
        let producing = stream(200, prefix: "j", to: topics.input, perSecond: 400)
        for (index, delay) in [0.3, 0.6, 1.0, 1.6, 2.2, 2.9].enumerated() {
            let worker = try WorkerTestSupport.spawnWorker(topics, group: "join-\(UUID().uuidString.prefix(8))-\(index)", model: model, id: "join-\(index)")
            defer { ChildProcess.killIfRunning(worker) }
            try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            let stopped = ContinuousClock.now
            worker.terminate()
            let status = await ChildProcess.waitForExit(worker, timeout: .seconds(40), "worker after SIGTERM at \(delay) s")
            print("join test: SIGTERM at \(delay) s, exit \(status.map { "\($0)" } ?? "none") in \(ContinuousClock.now - stopped)")
            XCTAssertEqual(status, 0, "SIGTERM \(delay) s after start exits 0")
            XCTAssertLessThan(ContinuousClock.now - stopped, .seconds(30))
        }
        _ = try await producing.value
    }

    private func committedPositions(group: String, topic: String, partitions: Int32) async throws -> [Int64?] {
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(client: WorkerTestSupport.client, groupID: group), logger: WorkerTestSupport.logger)
        let positions = try await consumer.committed((0..<partitions).map { KafkaTopicPartition(topic: topic, partition: $0) })
        try await BoundedWait.within(.seconds(60), "closing the offsets reader") { await consumer.close() }
        return positions.sorted { $0.partition < $1.partition }.map(\.offset)
    }

    /// The broker link is cut for 20 s (the relay in front of the broker is SIGSTOPped) while
    /// requests stream in: the worker recovers by itself and answers every request.
    func testNetworkPartitionOfTwentySecondsLosesNothing() async throws {
        let model = try model
        let broker = try await LocalBroker.start(port: 9_392, tansuPort: 19_392)
        defer { broker.stop() }
        let (client, topics, suffix) = try await broker.makeTopics(clientID: "partition-test", inputPartitions: 2)
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
        _ = try await producing.value
        // The reader itself re-reads from the start when its own session expires in the cut:
        // count what the worker produced with a fresh reader.
        let produced = try WorkerTestSupport.decodeResults(try await WorkerTestSupport.readAll(topics.output, client: client)).map(\.requestID)
        let ids = try WorkerTestSupport.decodeResults(messages).map(\.requestID)
        print("partition test: \(before) results before the 20 s cut, \(Set(ids).count)/\(total) answered, worker duplicates \(produced.count - Set(produced).count)")
        XCTAssertEqual(Set(ids).count, total, "nothing lost across the partition")
        XCTAssertNil(ChildProcess.exitStatus(worker), "the worker recovered by itself (still running)")
        worker.terminate()
        let status = await ChildProcess.waitForExit(worker, timeout: .seconds(60), "worker after SIGTERM")
        XCTAssertEqual(status, 0)
    }
}

/// A flag one task sets and another reads.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
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

    /// A client of this broker, and fresh input, output and dead-letter topics on it.
    func makeTopics(clientID: String, inputPartitions: Int) async throws -> (KafkaConfiguration, WorkerTestSupport.Topics, String) {
        let client = KafkaConfiguration(bootstrapServers: [address], clientID: clientID)
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let topics = WorkerTestSupport.Topics(input: "req-\(suffix)", output: "res-\(suffix)", deadLetters: "dlq-\(suffix)", reply: "reply-\(suffix)")
        let admin = try KafkaAdmin(configuration: client, logger: WorkerTestSupport.logger)
        try await admin.createTopics([
            .init(name: topics.input, partitions: inputPartitions), .init(name: topics.output, partitions: 1),
            .init(name: topics.deadLetters, partitions: 1),
        ])
        return (client, topics, suffix)
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
