import Foundation
import Inference
import Kafka
import ModerationProto
import Synchronization
import TestSupport
import XCTest

@testable import Worker

/// Issue 13: hostile requests, broker faults and shutdowns at bad moments, against the real
/// broker and the real `duoguard` binary. Nothing may stall a partition, hang shutdown or
/// lose a request.
final class WorkerHardeningTests: XCTestCase {
    private func producer(maxMessageBytes: Int = 4_000_000) throws -> KafkaProducer {
        var client = WorkerTestSupport.client
        client.properties["message.max.bytes"] = "\(maxMessageBytes)"
        return try KafkaProducer(configuration: KafkaProducerConfiguration(client: client, linger: .zero), logger: WorkerTestSupport.logger)
    }

    private func encoded(_ request: ModerationRequest) throws -> [UInt8] {
        try ModerationCodec.encodeRequest(request, contentType: .protobuf)
    }

    /// The group's committed position of `partition`, asked of the broker.
    private func committed(group: String, topic: String, partition: Int32 = 0) async throws -> Int64? {
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(client: WorkerTestSupport.client, groupID: group), logger: WorkerTestSupport.logger)
        let positions = try await consumer.committed([KafkaTopicPartition(topic: topic, partition: partition)], timeout: .seconds(10))
        try await BoundedWait.within(.seconds(60), "closing the offsets reader") { await consumer.close() }
        return positions.first?.offset
    }

    /// Results that cannot be delivered (a result over the broker's size limit, a dead letter
    /// over it, a reply-to that is not a topic) are answered another way, and the ordinary
    /// requests behind them on the same partition are answered and committed.
    func testUndeliverableResultsDoNotStallThePartition() async throws {
        let model = try WorkerTestSupport.modelPath()
        let topics = try await WorkerTestSupport.makeTopics(partitions: 1)
        let group = "g-\(UUID().uuidString.prefix(8))"
        let worker = try WorkerTestSupport.spawnWorker(
            topics, group: group, model: model, id: "hardening",
            extra: ["--commit-interval-ms", "200", "--reply-to-allow", ".*", "--max-request-bytes", "2000000"])
        defer { ChildProcess.killIfRunning(worker) }

        let producer = try producer()
        // 1. A request whose metadata (copied into the result) would exceed the producer's limit
        //    (Kafka's 1,048,588): since issue 21 metadata is bounded, so it is INVALID_ARGUMENT
        //    (METADATA_TOO_LARGE), and its dead letter (the 1 MB value) goes without the value.
        var huge = WorkerTestSupport.request(id: "huge-result", text: "hello")
        huge.metadata = ["pad": String(repeating: "m", count: 1_049_000)]
        try await producer.send(KafkaProducerMessage(topic: topics.input, key: Array("huge".utf8), value: try encoded(huge)))
        // 2. Poison whose dead letter (value + headers) exceeds it too.
        try await producer.send(KafkaProducerMessage(
            topic: topics.input, key: Array("poison".utf8), value: [0x0A, 0xFF] + [UInt8](repeating: 0xFF, count: 1_200_000),
            headers: [KafkaHeader(key: "x-trace", string: String(repeating: "h", count: 2_000))]))
        // 3. A reply-to that no broker would accept as a topic name.
        try await producer.send(KafkaProducerMessage(
            topic: topics.input, key: Array("bad-reply".utf8), value: try encoded(WorkerTestSupport.request(id: "bad-reply", text: "hi")),
            headers: [KafkaHeader(key: "reply-to", string: "bad topic!")]))
        // 4. Ordinary requests behind them.
        for i in 0..<50 {
            try await producer.send(KafkaProducerMessage(
                topic: topics.input, key: Array("ok-\(i)".utf8), value: try encoded(WorkerTestSupport.request(id: "ok-\(i)", text: "text \(i)"))))
        }
        await producer.close()

        let results = try WorkerTestSupport.decodeResults(try await WorkerTestSupport.read(topics.output, count: 52, timeout: .seconds(120)))
        let byID = Dictionary(results.map { ($0.requestID, $0) }, uniquingKeysWith: { first, _ in first })
        for i in 0..<50 { XCTAssertEqual(byID["ok-\(i)"]?.status.code, .ok, "ok-\(i)") }
        XCTAssertEqual(byID["bad-reply"]?.status.code, .invalidArgument)
        XCTAssertEqual(byID["huge-result"]?.status.code, .invalidArgument, "metadata over its bound is the requester's error")
        XCTAssertTrue(byID["huge-result"]?.metadata.isEmpty ?? false, "an error result does not copy the oversize metadata")

        let dead = try await WorkerTestSupport.read(topics.deadLetters, count: 3, timeout: .seconds(60))
        let byCode = Dictionary(dead.map { ($0.headers.last(named: "error-code")?.stringValue ?? "?", $0) }, uniquingKeysWith: { a, _ in a })
        let metadata = try XCTUnwrap(byCode["METADATA_TOO_LARGE"], "the oversize metadata became a dead letter")
        XCTAssertEqual(metadata.key, Array("huge".utf8))
        XCTAssertEqual(metadata.headers.last(named: "dead-letter-omitted")?.stringValue, "value")
        let poison = try XCTUnwrap(byCode["UNDECODABLE"])
        XCTAssertEqual(poison.headers.last(named: "dead-letter-omitted")?.stringValue, "value", "the oversize dead letter was sent without its value")
        XCTAssertNil(poison.value)
        XCTAssertEqual(poison.headers.last(named: "source-offset")?.stringValue, "1")
        XCTAssertNotNil(byCode["REPLY_TO_INVALID"])

        // The committed position reaches the partition's end (53 records), then SIGTERM is quick.
        let deadline = ContinuousClock.now + .seconds(30)
        var position: Int64?
        while ContinuousClock.now < deadline {
            position = try await committed(group: group, topic: topics.input)
            if position == 53 { break }
            try await Task.sleep(for: .milliseconds(300))
        }
        XCTAssertEqual(position, 53, "the committed offset moved past every undeliverable request")
        let stopped = ContinuousClock.now
        worker.terminate()
        let status = await ChildProcess.waitForExit(worker, timeout: .seconds(30), "worker after SIGTERM")
        XCTAssertEqual(status, 0)
        XCTAssertLessThan(ContinuousClock.now - stopped, .seconds(15), "SIGTERM exits within 15 s")
    }

    /// A broker that does not answer at start is a clear error and a non-zero exit, fast.
    func testBrokerUnreachableAtStartFailsFast() async throws {
        let model = try WorkerTestSupport.modelPath()
        let started = ContinuousClock.now
        let (status, output) = try await ChildProcess.capture(
            try WorkerTestSupport.binary,
            [
                "worker", "--brokers", "127.0.0.1:1", "--group", "g", "--input-topic", "in", "--output-topic", "out",
                "--dlq-topic", "dlq", "--model", model, "--metrics-port", "0",
            ], timeout: .seconds(60), mergingStandardError: true)
        let text = String(decoding: output, as: UTF8.self)
        XCTAssertEqual(status, 1, text)
        XCTAssertTrue(text.contains("cannot start worker"), text)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(30))
    }

    /// Bad options fail at start, naming the option.
    func testInvalidOptionsFailAtStartNamingTheOption() async throws {
        let model = try WorkerTestSupport.modelPath()
        let base = [
            "worker", "--brokers", WorkerTestSupport.brokers, "--group", "g", "--input-topic", "in", "--output-topic", "out",
            "--dlq-topic", "dlq", "--model", model,
        ]
        let cases: [([String], String)] = [
            (["--max-batch", "0"], "--max-batch"),
            (["--metrics-port", "70000"], "--metrics-port"),
            (["--long-text", "windows", "--window-overlap", "511"], "--window-overlap"),
            (["--long-text", "sideways"], "--long-text"),
            (["--threshold", "nan"], "--threshold"),
            (["--reply-to-allow", "(["], "--reply-to-allow"),
            (["--batch-tokens", "0"], "--batch-tokens"),
            (["--max-tokens", "4096"], "--max-tokens"),
            (["--schema-ids", "12,x"], "--schema-ids"),
            (["--result-schema-id", "-1"], "--result-schema-id"),
            (["--result-schema-id", "4294967296"], "--result-schema-id"),
            (["--cloudevents-source", ""], "--cloudevents-source"),
            (["--cloudevents-source", "/a\u{1}b"], "--cloudevents-source"),
            (["--default-content-type", "xml"], "--default-content-type"),
            (["--metrics-host", "", "--metrics-port", "9999"], "--metrics-host"),
            (["--max-request-bytes", "0"], "--max-request-bytes"),
            (["--max-request-bytes", "2000000000"], "--max-request-bytes"),
            (["--max-buffered-bytes", "1"], "--max-buffered-bytes"),
        ]
        for (extra, option) in cases {
            let (status, output) = try await ChildProcess.capture(
                try WorkerTestSupport.binary, base + extra, timeout: .seconds(60), mergingStandardError: true)
            let text = String(decoding: output, as: UTF8.self)
            XCTAssertNotEqual(status, 0, "\(extra)")
            XCTAssertTrue(text.contains(option), "\(extra): \(text)")
        }
    }

    /// Requests whose deadline passes while they wait in the queue are answered
    /// DEADLINE_EXCEEDED without the model, and counted.
    func testRequestsExpiringInTheQueueAreShedWithoutTheModel() async throws {
        let model = try DuoGuardModel.load(path: try WorkerTestSupport.modelPath())
        let topics = try await WorkerTestSupport.makeTopics(partitions: 1)
        var configuration = WorkerTestSupport.configuration(topics, group: "g-\(UUID().uuidString.prefix(8))")
        configuration.maxWait = .seconds(3)  // a partial batch waits 3 s: longer than the deadlines below
        configuration.maxBatch = 1_000
        let worker = WorkerTestSupport.InProcessWorker(configuration: configuration, model: model)
        // Warm up: the group is joined once the first answer is back.
        try await WorkerTestSupport.produce([WorkerTestSupport.request(id: "warm", text: "hi")], to: topics.input)
        _ = try await WorkerTestSupport.read(topics.output, count: 1)

        let deadline = Int64(Date().timeIntervalSince1970 * 1000) + 1_500
        try await WorkerTestSupport.produce(
            (0..<20).map { WorkerTestSupport.request(id: "d\($0)", text: "text \($0)") }, to: topics.input,
            headers: [KafkaHeader(key: "deadline", string: "\(deadline)")])
        let results = try WorkerTestSupport.decodeResults(try await WorkerTestSupport.read(topics.output, count: 21))
            .filter { $0.requestID.hasPrefix("d") }
        let metrics = worker.worker.metrics.render()
        try await worker.stop()
        XCTAssertEqual(Set(results.map(\.requestID)).count, 20)
        XCTAssertTrue(results.allSatisfy { $0.status.code == .deadlineExceeded && $0.probabilities.isEmpty }, "\(results.map(\.status))")
        let shed = results.filter { $0.status.message.contains("while the request was queued") }.count
        XCTAssertGreaterThan(shed, 0, "some expired in the queue (the rest, on a slow machine, at intake)")
        XCTAssertTrue(metrics.contains("duoguard_requests_expired_total \(shed)"), metrics)
    }

    /// A flood of ~900 KB records: memory is bounded by bytes, not by the message count.
    func testFloodOfLargeRecordsKeepsMemoryBounded() async throws {
        let model = try WorkerTestSupport.modelPath()
        let topics = try await WorkerTestSupport.makeTopics(partitions: 2)
        let producer = try producer()
        let count = 300
        for i in 0..<count {
            try await producer.send(KafkaProducerMessage(
                topic: topics.input, key: Array("big-\(i)".utf8), value: [0x0A, 0xFF] + [UInt8](repeating: UInt8(i % 200), count: 900_000)))
        }
        await producer.close()
        let worker = try WorkerTestSupport.spawnWorker(topics, group: "g-\(UUID().uuidString.prefix(8))", model: model, id: "flood")
        defer { ChildProcess.killIfRunning(worker) }
        let sampler = ProcessFigures.residentPeak(of: worker.processIdentifier)
        let dead = try await WorkerTestSupport.read(topics.deadLetters, count: count, timeout: .seconds(300))
        sampler.cancel()
        let peak = await sampler.value
        print("flood test: \(count) records of 900 KB dead-lettered, worker peak RSS \(peak / 1_048_576) MiB")
        XCTAssertEqual(Set(dead.compactMap(\.key)).count, count, "every record answered")
        XCTAssertLessThan(peak, 350 * 1_048_576, "RSS bounded by bytes: buffers 32 + 8 + 64 + 64 MiB plus the process (a count bound alone would allow 2,000 x 900 KB)")
        worker.terminate()
        await ChildProcess.waitForExit(worker, timeout: .seconds(60), "worker after SIGTERM")
    }

    /// Issue 21, all on one partition of a `^pattern` subscription, under a 16 MiB in-flight
    /// budget: a `reply-to` that makes a backtracking matcher explode, one naming another topic
    /// of the subscription, 100 naming topics that do not exist, 40 requests of ~75,000
    /// metadata entries (~1 MB each), then 50 ordinary requests. Every request is answered,
    /// the pattern topic is PERMISSION_DENIED, no topic is created, RSS stays bounded.
    func testHostileReplyTosAndMetadataOnOnePartition() async throws {
        let model = try WorkerTestSupport.modelPath()
        let base = try await WorkerTestSupport.makeTopics(partitions: 1)
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let pinA = "pin-\(suffix)-a", pinB = "pin-\(suffix)-b"
        let admin = try KafkaAdmin(configuration: WorkerTestSupport.client, logger: WorkerTestSupport.logger)
        try await admin.createTopics([.init(name: pinA, partitions: 1), .init(name: pinB, partitions: 1)])
        let topics = WorkerTestSupport.Topics(input: "^pin-\(suffix)-.*", output: base.output, deadLetters: base.deadLetters, reply: base.reply)
        let group = "g-\(UUID().uuidString.prefix(8))"
        let worker = try WorkerTestSupport.spawnWorker(
            topics, group: group, model: model, id: "hostile",
            extra: ["--reply-to-allow", "(r[a-z]+)+-out|.*", "--max-in-flight-bytes", "16777216", "--max-request-bytes", "2000000",
                    "--commit-interval-ms", "200"])
        defer { ChildProcess.killIfRunning(worker) }
        let producer = try producer()

        // Warm-up on the other topic of the pattern: the baseline is a worker that has answered.
        try await producer.send(KafkaProducerMessage(
            topic: pinB, key: Array("warm".utf8), value: try encoded(WorkerTestSupport.request(id: "warm", text: "hello"))))
        _ = try await WorkerTestSupport.read(base.output, count: 1, timeout: .seconds(120))
        let baseline = try XCTUnwrap(ProcessFigures.memory(of: worker.processIdentifier)?.current)
        let sampler = ProcessFigures.residentPeak(of: worker.processIdentifier)
        let before = Set(try await producer.topics().keys)

        func send(_ id: String, replyTo: String? = nil, metadata: [String: String] = [:]) async throws {
            var request = WorkerTestSupport.request(id: id, text: "text of \(id)")
            request.metadata = metadata
            try await producer.send(KafkaProducerMessage(
                topic: pinA, key: Array(id.utf8), value: try encoded(request),
                headers: replyTo.map { [KafkaHeader(key: "reply-to", string: $0)] } ?? []))
        }
        let started = ContinuousClock.now
        try await send("backtrack", replyTo: String(repeating: "r", count: 60) + ".")
        try await send("pattern-topic", replyTo: pinB)
        for i in 0..<100 { try await send("missing-\(i)", replyTo: "missing-\(suffix)-\(i)") }
        let entries = Dictionary(uniqueKeysWithValues: (0..<75_000).map { ("k\($0)", "v") })
        for i in 0..<40 { try await send("metadata-\(i)", metadata: entries) }
        for i in 0..<50 { try await send("ok-\(i)") }

        let all = try WorkerTestSupport.decodeResults(try await WorkerTestSupport.read(base.output, count: 1 + 192, timeout: .seconds(300)))
        let elapsed = ContinuousClock.now - started
        sampler.cancel()
        let peak = await sampler.value
        let byID = Dictionary(all.map { ($0.requestID, $0) }, uniquingKeysWith: { first, _ in first })
        XCTAssertEqual(byID["backtrack"]?.status.code, .notFound, "matched (by `.*`) at once, and the topic does not exist")
        XCTAssertEqual(byID["pattern-topic"]?.status.code, .permissionDenied)
        for i in 0..<100 { XCTAssertEqual(byID["missing-\(i)"]?.status.code, .notFound, "missing-\(i)") }
        for i in 0..<40 { XCTAssertEqual(byID["metadata-\(i)"]?.status.code, .invalidArgument, "metadata-\(i)") }
        let answered = (0..<50).filter { byID["ok-\($0)"]?.status.code == .ok }.count
        XCTAssertEqual(answered, 50)
        let created = Set(try await producer.topics().keys).subtracting(before)
        let ours = created.filter { $0.hasPrefix("missing-") || $0.hasPrefix("rrr") || $0.contains(suffix) }
        XCTAssertEqual(ours, [], "no reply-to created a topic")
        let growth = max(0, peak - baseline)
        print("issue 21 combined: 192 requests answered in \(elapsed); ordinary answered \(answered)/50; topics created \(ours.count); "
            + "worker RSS baseline \(baseline / 1_048_576) MiB, peak \(peak / 1_048_576) MiB, growth \(growth / 1_048_576) MiB")
        XCTAssertLessThanOrEqual(growth, 100 * 1_048_576, "peak RSS growth within 100 MiB")
        await producer.close()
        worker.terminate()
        await ChildProcess.waitForExit(worker, timeout: .seconds(60), "worker after SIGTERM")
    }
}
