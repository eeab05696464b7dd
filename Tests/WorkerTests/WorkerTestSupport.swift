import Foundation
import Inference
import Kafka
import Logging
import ModerationProto
import ServiceLifecycle
import Synchronization
import Worker
import TestSupport
import XCTest

/// Shared set-up for the worker's end-to-end tests: the real local broker, the tiny random
/// DuoGuard fixture converted to GGUF by the real `duoguard convert`, and the real binary.
enum WorkerTestSupport {
    static let brokers = ProcessInfo.processInfo.environment["DUOGUARD_TEST_BROKERS"] ?? "127.0.0.1:9092"
    static let root = RepositoryRoot.url

    static let logger: Logger = {
        var logger = Logger(label: "worker-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["DUOGUARD_TEST_LOG"] == nil ? .warning : .debug
        return logger
    }()

    /// The `duoguard` binary built by `swift build --build-tests` (or DUOGUARD_BINARY).
    static var binary: String {
        get throws {
            let path = ProcessInfo.processInfo.environment["DUOGUARD_BINARY"] ?? root.appendingPathComponent(".build/debug/duoguard").path
            guard FileManager.default.isExecutableFile(atPath: path) else {
                XCTFail("duoguard binary not found at \(path): run `swift build --build-tests` first")
                throw CancellationError()
            }
            return path
        }
    }

    /// The tiny-a fixture model as Q8_0 GGUF, converted once per test run.
    static func modelPath() throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("duoguard-worker-tests-\(getpid()).gguf").path
        if FileManager.default.fileExists(atPath: output) { return output }
        let tokenizer = root.appendingPathComponent("Tests/Fixtures/generated/llama3.2/tokenizer.json").path
        guard FileManager.default.fileExists(atPath: tokenizer) else {
            XCTFail("missing \(tokenizer): run scripts/prepare-tokenizers.sh")
            throw CancellationError()
        }
        let status = try run(
            binary,
            ["convert", root.appendingPathComponent("Tests/InferenceTests/Fixtures/tiny-a").path,
             "--output", output, "--type", "q8_0", "--tokenizer", tokenizer])
        XCTAssertEqual(status, 0, "duoguard convert failed")
        return output
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return ChildProcess.waitForExitBlocking(process, timeout: .seconds(300), "\(URL(fileURLWithPath: executable).lastPathComponent) \(arguments.first ?? "")") ?? -1
    }

    static var client: KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: [brokers], clientID: "worker-tests")
    }

    /// Fresh topics for one test: input (4 partitions), output, dead letters, reply.
    struct Topics {
        var input, output, deadLetters, reply: String
    }

    static func makeTopics(partitions: Int = 4) async throws -> Topics {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let topics = Topics(input: "req-\(suffix)", output: "res-\(suffix)", deadLetters: "dlq-\(suffix)", reply: "reply-\(suffix)")
        let admin = try KafkaAdmin(configuration: client, logger: logger)
        try await admin.createTopics([
            .init(name: topics.input, partitions: partitions), .init(name: topics.output, partitions: 1),
            .init(name: topics.deadLetters, partitions: 1), .init(name: topics.reply, partitions: 1),
        ])
        return topics
    }

    static func configuration(_ topics: Topics, group: String) -> WorkerConfiguration {
        var configuration = WorkerConfiguration(
            kafka: client, groupID: group, inputTopics: [topics.input], outputTopic: topics.output,
            deadLetterTopic: topics.deadLetters)
        configuration.maxWait = .milliseconds(5)
        configuration.workerID = "in-process"
        configuration.sessionTimeout = .seconds(6)
        configuration.commitInterval = .milliseconds(500)
        configuration.metricsPort = 0
        configuration.metricsHost = "127.0.0.1"
        return configuration
    }

    /// Runs a worker in this process until `stop` is called on the returned handle.
    final class InProcessWorker: Sendable {
        let group: ServiceGroup
        let task: Task<Void, Error>
        let worker: ModerationWorker

        init(configuration: WorkerConfiguration, model: DuoGuardModel) {
            let worker = ModerationWorker(configuration: configuration, model: model, logger: WorkerTestSupport.logger)
            let group = ServiceGroup(services: [worker], logger: WorkerTestSupport.logger)
            self.worker = worker
            self.group = group
            self.task = Task { try await group.run() }
        }

        func stop() async throws {
            await group.triggerGracefulShutdown()
            try await task.value
        }
    }

    /// A child `duoguard worker` process.
    static func spawnWorker(
        _ topics: Topics, group: String, model: String, id: String, brokers: String = brokers, extra: [String] = [],
        environment: [String: String] = [:]
    ) throws -> Process {
        let process = Process()
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment, uniquingKeysWith: { $1 })
        }
        process.executableURL = URL(fileURLWithPath: try binary)
        process.arguments = [
            "worker", "--brokers", brokers, "--group", group, "--input-topic", topics.input,
            "--output-topic", topics.output, "--dlq-topic", topics.deadLetters, "--model", model,
            "--metrics-port", "0", "--session-timeout-ms", "6000", "--max-wait-ms", "5", "--worker-id", id,
            "--log-level", "warning",
        ] + extra
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

    static func request(id: String, text: String) -> ModerationRequest {
        var request = ModerationRequest()
        request.id = id
        request.text = text
        return request
    }

    /// Produces requests (protobuf unless `json`), with optional extra headers.
    static func produce(
        _ requests: [ModerationRequest], to topic: String, json: Bool = false, headers: [KafkaHeader] = [],
        client: KafkaConfiguration = client
    ) async throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client, linger: .milliseconds(2)), logger: logger)
        let contentType: ContentType = json ? .json : .protobuf
        try await withThrowingTaskGroup(of: Void.self) { group in
            for request in requests {
                let value = try ModerationCodec.encodeRequest(request, contentType: contentType)
                var all = headers
                if json { all.append(KafkaHeader(key: "content-type", string: "application/json")) }
                let message = KafkaProducerMessage(topic: topic, key: Array(request.id.utf8), value: value, headers: all)
                group.addTask { try await producer.send(message) }
            }
            try await group.waitForAll()
        }
        await producer.close()
    }

    /// Reads a topic from the beginning until `done` says enough (it sees each message once,
    /// in order, and keeps its own state), or `timeout`.
    static func read(
        _ topic: String, timeout: Duration = .seconds(60), client: KafkaConfiguration = client,
        until done: @escaping @Sendable (KafkaConsumerMessage) -> Bool
    ) async throws -> [KafkaConsumerMessage] {
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                client: client, groupID: "reader-\(UUID().uuidString.prefix(8))", sessionTimeout: .seconds(6),
                heartbeatInterval: .milliseconds(500), autoCommitInterval: nil, maxBufferedMessages: 10_000),
            logger: logger)
        try consumer.subscribe(topics: [topic])
        let collected = try await withThrowingTaskGroup(of: [KafkaConsumerMessage]?.self) { group in
            group.addTask {
                var messages: [KafkaConsumerMessage] = []
                for await message in consumer.messages {
                    messages.append(message)
                    if done(message) { break }
                }
                return messages
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        try await BoundedWait.within(.seconds(60), "closing the test consumer of \(topic)") { await consumer.close() }
        guard let collected else {
            XCTFail("timed out after \(timeout) reading \(topic)")
            throw CancellationError()
        }
        return collected
    }

    /// Reads until `count` messages arrived.
    static func read(_ topic: String, count: Int, timeout: Duration = .seconds(60)) async throws -> [KafkaConsumerMessage] {
        let counter = Counter()
        return try await read(topic, timeout: timeout) { _ in counter.next() >= count }
    }

    /// Reads everything currently in `topic`: waits until no message came for `quiet`.
    static func readAll(_ topic: String, quiet: Duration = .seconds(3), client: KafkaConfiguration = client) async throws -> [KafkaConsumerMessage] {
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                client: client, groupID: "reader-\(UUID().uuidString.prefix(8))", sessionTimeout: .seconds(6),
                heartbeatInterval: .milliseconds(500), autoCommitInterval: nil),
            logger: logger)
        try consumer.subscribe(topics: [topic])
        var messages: [KafkaConsumerMessage] = []
        var lastArrival = ContinuousClock.now + .seconds(5)  // the group join comes first
        while ContinuousClock.now - lastArrival < quiet {
            let batch = consumer.takeAvailable(max: 10_000)
            if batch.isEmpty {
                try await Task.sleep(for: .milliseconds(50))
            } else {
                messages += batch
                lastArrival = .now
            }
        }
        try await BoundedWait.within(.seconds(60), "closing the test consumer of \(topic)") { await consumer.close() }
        return messages
    }

    final class Counter: Sendable {
        private let value = Mutex(0)
        func next() -> Int { value.withLock { $0 += 1; return $0 } }
    }

    /// Tracks which expected keys have been seen; done when all have.
    final class KeyCollector: Sendable {
        private let missing: Mutex<Set<String>>
        init(_ expected: Set<String>) { missing = Mutex(expected) }
        func saw(_ message: KafkaConsumerMessage) -> Bool {
            missing.withLock { missing in
                missing.remove(String(decoding: message.key ?? [], as: UTF8.self))
                return missing.isEmpty
            }
        }
    }

    static func decodeResults(_ messages: [KafkaConsumerMessage]) throws -> [ModerationResult] {
        try messages.map { message in
            let contentType = try ContentType.parse(message.headers.last(named: "content-type")?.stringValue)
            return try ModerationCodec.decodeResult(message.value ?? [], contentType: contentType)
        }
    }
}
