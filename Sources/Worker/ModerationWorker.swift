import Dispatch
import Foundation
import Inference
import Kafka
import Logging
import ModerationProto
import ServiceLifecycle
import Synchronization
import Tokenizer

/// The moderation worker: Kafka requests → tokenize → micro-batches → model → results.
///
///     consumer thread ─▶ intake (decode, validate, tokenize) ─▶ MicroBatcher ─▶ inference
///                          │ poison                                    thread (the model)
///                          ▼                                                 │
///                 dead-letter topic ◀─┬─ idempotent producer ◀── encode ◀────┘
///                                     └─▶ delivery acks ─▶ OffsetTracker ─▶ store offset
///
/// At-least-once: a message's offset is stored only after its result (or dead letter) is
/// acknowledged by the broker, together with every earlier message of its partition;
/// librdkafka commits stored offsets every `commitInterval`, and the worker commits on
/// revoke and on shutdown. Run it under swift-service-lifecycle: SIGTERM stops fetching,
/// finishes the running batch, waits for its results, commits and leaves the group.
public final class ModerationWorker: Service, Sendable {
    private let configuration: WorkerConfiguration
    private let model: DuoGuardModel
    private let logger: Logger
    public let metrics: WorkerMetrics
    private let tracker = OffsetTracker()
    private let batcher: MicroBatcher<WorkItem>
    private let inferenceQueue = DispatchQueue(label: "duoguard.inference")
    private let state = Mutex(RunState())
    private let counts = WorkerCounts()

    private struct RunState: ~Copyable {
        var running = false
        var stopping = false
        var assigned = 0
    }

    /// A request ready for the model.
    struct WorkItem: Sendable {
        var message: KafkaConsumerMessage
        var request: ModerationRequest
        var requestID: String
        var contentType: ContentType
        /// One sequence, or one per window in `.windows` mode.
        var sequences: [[Int32]]
        var truncated: Bool
        var read: ContinuousClock.Instant

        var tokenCount: Int { sequences.reduce(0) { $0 + $1.count } }
    }

    public init(configuration: WorkerConfiguration, model: DuoGuardModel, logger: Logger, metrics: WorkerMetrics = WorkerMetrics()) {
        self.configuration = configuration
        self.model = model
        self.logger = logger
        self.metrics = metrics
        self.batcher = MicroBatcher(
            limits: .init(
                tokenBudget: configuration.batchTokens, maxItems: configuration.maxBatch,
                maxWait: configuration.maxWait, capacity: configuration.queueCapacity))
    }

    /// Requests answered so far (result or dead letter acknowledged), and of them dead-lettered.
    public var answeredCount: Int { counts.answered.load(ordering: .relaxed) }
    public var deadLetteredCount: Int { counts.deadLettered.load(ordering: .relaxed) }

    /// True once consuming, until shutdown begins (`/readyz`).
    public var isReady: Bool { state.withLock { $0.running && !$0.stopping } }

    public func run() async throws {
        var consumerConfiguration = KafkaConsumerConfiguration(
            client: configuration.kafka, groupID: configuration.groupID,
            sessionTimeout: configuration.sessionTimeout,
            heartbeatInterval: min(.seconds(3), configuration.sessionTimeout / 6),
            autoCommitInterval: configuration.commitInterval,
            revokeTimeout: configuration.drainTimeout + .seconds(5))
        consumerConfiguration.client.clientID = "duoguard-worker-\(configuration.workerID)"
        let consumer: KafkaConsumer
        let producer: KafkaProducer
        do {
            consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
            producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: configuration.kafka), logger: logger)
            // Fail fast, with a clear message, when the cluster cannot be reached.
            _ = try await producer.topics()
            // A replay starts each partition at its range (or resume) position.
            let starts = configuration.replay.map { plan in
                Dictionary(uniqueKeysWithValues: plan.ranges.map { (KafkaTopicPartition(topic: plan.topic, partition: $0.key), $0.value.lowerBound) })
            } ?? [:]
            try consumer.subscribe(topics: configuration.inputTopics, initialOffsets: starts)
        } catch {
            throw WorkerError.startup("\(error)")
        }
        let server = try startHealthServer()
        state.withLock { $0.running = true }
        logger.info(
            "worker started",
            metadata: [
                "group": "\(configuration.groupID)", "input": "\(configuration.inputTopics)",
                "output": "\(configuration.outputTopic)", "dlq": "\(configuration.deadLetterTopic)",
                "model": "\(model.identity.name) \(model.identity.quantization)", "kernels": "\(model.kernelName)",
            ])

        let results = ResultSender(
            producer: producer, tracker: tracker, consumer: consumer, metrics: metrics, counts: counts, logger: logger)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.handleEvents(consumer) }
                group.addTask { await self.runInference(results) }
                group.addTask { await self.reportLag(consumer) }
                if let plan = self.configuration.replay {
                    group.addTask { await self.finishReplay(plan) }
                }
                group.addTask {
                    await self.intake(consumer, results)
                    // Intake ended (shutdown): unstarted requests are re-read by the next owner.
                    self.abandonQueued { _ in true }
                    self.batcher.close()
                }
                await group.next()  // intake or inference ended: drain the rest below.
                self.beginStopping()
                await self.waitForInFlight(within: self.configuration.drainTimeout)
                try? await consumer.commit()
                await consumer.close()  // leaves the group; ends the events task
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.logger.info("shutdown requested: stopping intake, finishing in-flight work")
            self.beginStopping()
        }
        await producer.close(flushTimeout: configuration.drainTimeout)
        server?.stop()
        state.withLock { $0.running = false }
        logger.info("worker stopped")
    }

    private func beginStopping() {
        let first = state.withLock { state in
            defer { state.stopping = true }
            return !state.stopping
        }
        if first {
            abandonQueued { _ in true }
            batcher.close()
        }
    }

    private var stopping: Bool { state.withLock { $0.stopping } }

    // MARK: intake

    private func intake(_ consumer: KafkaConsumer, _ results: ResultSender) async {
        var messages = consumer.messages.makeAsyncIterator()
        while !stopping, let message = await messages.next() {
            if stopping { break }  // read after shutdown began: not ours to answer any more
            if let plan = configuration.replay {
                switch plan.decide(partition: message.partition, offset: message.offset) {
                case .skip:
                    continue
                case .end:
                    try? consumer.pause([message.topicPartition])
                    continue
                case .answer(let last):
                    if last { try? consumer.pause([message.topicPartition]) }
                }
            }
            metrics.consumed.increment()
            tracker.register(message.topicPartition, offset: message.offset)
            let read = ContinuousClock.now
            switch prepare(message, read: read) {
            case .ready(let item):
                if !(await batcher.enqueue(item, tokens: item.tokenCount)) {
                    tracker.abandon(message.topicPartition, offset: message.offset)
                }
            case .answer(let outgoing):
                results.send(outgoing, for: message, read: read)
            }
            metrics.queueDepth.set(Double(batcher.count))
        }
    }

    private enum Prepared {
        case ready(WorkItem)
        /// Messages that answer the request without the model (dead letter, error result).
        case answer([KafkaProducerMessage])
    }

    /// Decode, validate, check the deadline, tokenize.
    private func prepare(_ message: KafkaConsumerMessage, read: ContinuousClock.Instant) -> Prepared {
        let contentType: ContentType
        do {
            contentType = try ContentType.parse(message.headers.last(named: ModerationHeader.contentType)?.stringValue)
        } catch {
            return .answer([deadLetter(message, error: error)])
        }
        let request: ModerationRequest
        do {
            request = try ModerationCodec.decodeRequest(message.value ?? [], contentType: contentType)
        } catch {
            return .answer([deadLetter(message, error: error)])
        }
        let requestID = ModerationCodec.requestID(
            of: request, topic: message.topic, partition: message.partition, offset: message.offset)
        do {
            try ModerationCodec.validate(request, maxTextBytes: configuration.maxTextBytes)
        } catch {
            var result = baseResult(requestID: requestID, request: request, message: message)
            result.status.code = .invalidArgument
            result.status.message = error.description
            var outgoing = [deadLetter(message, error: error)]
            if let reply = resultMessage(result, for: message, contentType: contentType) { outgoing.append(reply) }
            return .answer(outgoing)
        }
        if let deadline = message.headers.last(named: ModerationHeader.deadline)?.stringValue.flatMap(DeadlineHeader.parse),
            deadline < Date()
        {
            var result = baseResult(requestID: requestID, request: request, message: message)
            result.status.code = .deadlineExceeded
            result.status.message = "deadline \(deadline) passed before the request was dequeued"
            return .answer(resultMessage(result, for: message, contentType: contentType).map { [$0] } ?? [])
        }
        if configuration.logText {
            logger.info("request", metadata: ["id": "\(requestID)", "text": "\(request.text)"])
        }
        let sequences: [[Int32]]
        let truncated: Bool
        switch configuration.longText {
        case .truncate:
            let tokens = model.tokenizer.encode(request.text, addSpecialTokens: true, maxTokens: configuration.maxTokens)
            (sequences, truncated) = ([tokens.ids], tokens.truncated)
        case .windows:
            sequences = model.tokenizer.windows(
                request.text, maxTokens: configuration.maxTokens, overlap: configuration.windowOverlap
            ).map(\.ids)
            truncated = false
        }
        return .ready(
            WorkItem(
                message: message, request: request, requestID: requestID, contentType: contentType,
                sequences: sequences, truncated: truncated, read: read))
    }

    private func deadLetter(_ message: KafkaConsumerMessage, error: ModerationDecodeError) -> KafkaProducerMessage {
        logger.warning(
            "poison message to dead-letter topic",
            metadata: [
                "source": "\(message.topic)/\(message.partition)/\(message.offset)", "error": "\(error.code)",
            ])
        metrics.deadLettered.increment()
        counts.deadLettered.add(1, ordering: .relaxed)
        var headers = message.headers
        headers.append(KafkaHeader(key: ModerationHeader.errorCode, string: error.code))
        headers.append(KafkaHeader(key: ModerationHeader.errorMessage, string: error.description))
        headers.append(KafkaHeader(key: ModerationHeader.sourceTopic, string: message.topic))
        headers.append(KafkaHeader(key: ModerationHeader.sourcePartition, string: "\(message.partition)"))
        headers.append(KafkaHeader(key: ModerationHeader.sourceOffset, string: "\(message.offset)"))
        return KafkaProducerMessage(topic: configuration.deadLetterTopic, key: message.key, value: message.value, headers: headers)
    }

    // MARK: inference

    private func runInference(_ results: ResultSender) async {
        while let batch = await batcher.nextBatch() {
            metrics.queueDepth.set(Double(batcher.count))
            let started = ContinuousClock.now
            let outcome: Result<[Classification], InferenceError> = await withCheckedContinuation { continuation in
                let model = self.model
                let sequences = batch.flatMap(\.sequences)
                inferenceQueue.async {
                    continuation.resume(returning: Result { () throws(InferenceError) in try model.classify(batch: sequences) })
                }
            }
            let inferenceSeconds = seconds(ContinuousClock.now - started)
            metrics.inferenceSeconds.record(inferenceSeconds)
            metrics.batchSize.record(Double(batch.count))
            metrics.batchTokens.record(Double(batch.reduce(0) { $0 + $1.tokenCount }))
            var firstSequence = 0
            for item in batch {
                let range = firstSequence..<(firstSequence + item.sequences.count)
                firstSequence = range.upperBound
                var result = baseResult(requestID: item.requestID, request: item.request, message: item.message)
                result.queueMs = seconds(started - item.read) * 1000
                result.inferenceMs = inferenceSeconds * 1000
                result.tokenCount = Int32(item.tokenCount)
                result.truncated = item.truncated
                result.windows = Int32(item.sequences.count)
                switch outcome {
                case .success(let classifications):
                    let thresholds = item.request.hasThreshold
                        ? CategoryThresholds(default: item.request.threshold) : configuration.categoryThresholds
                    fill(&result, with: Classification.maximum(of: classifications[range]), thresholds: thresholds)
                case .failure(let error):
                    result.status.code = .internal
                    result.status.message = "inference failed: \(error)"
                    logger.error("inference failed", metadata: ["error": "\(error)"])
                }
                let outgoing = resultMessage(result, for: item.message, contentType: item.contentType).map { [$0] } ?? []
                results.send(outgoing, for: item.message, read: item.read)
            }
        }
    }

    private func fill(_ result: inout ModerationResult, with classification: Classification, thresholds: CategoryThresholds) {
        result.status.code = .ok
        result.probabilities = classification.probabilities
        result.scores = classification.probabilities.enumerated().map { index, probability in
            var score = CategoryScore()
            score.category = ModerationCategory(modelIndex: index) ?? .unspecified
            score.name = ModerationCategory.displayNames[safe: index] ?? "label \(index)"
            score.probability = probability
            return score
        }
        result.maxProbability = classification.maxProbability
        result.threshold = thresholds.defaultValue
        result.categoryThresholds = thresholds.values
        let over = thresholds.flagged(classification.probabilities)
        result.unsafe = !over.isEmpty
        result.categories = over.compactMap { ModerationCategory(modelIndex: $0) }
        result.categoryNames = over.compactMap { ModerationCategory.displayNames[safe: $0] }
    }

    private func baseResult(requestID: String, request: ModerationRequest, message: KafkaConsumerMessage) -> ModerationResult {
        var result = ModerationResult()
        result.requestID = requestID
        result.metadata = request.metadata
        var identity = ModerationProto.ModelIdentity()
        identity.name = model.identity.name
        identity.quantization = model.identity.quantization
        identity.fileSha256 = model.identity.contentHash
        result.model = identity
        var source = RequestSource()
        source.topic = message.topic
        source.partition = message.partition
        source.offset = message.offset
        result.source = source
        result.workerID = configuration.workerID
        return result
    }

    /// The result message: the request's encoding and key, to `reply-to` or the output topic,
    /// with the correlation id copied.
    private func resultMessage(_ result: ModerationResult, for message: KafkaConsumerMessage, contentType: ContentType) -> KafkaProducerMessage? {
        let value: [UInt8]
        do {
            value = try ModerationCodec.encodeResult(result, contentType: contentType)
        } catch {
            logger.error("cannot encode result", metadata: ["id": "\(result.requestID)", "error": "\(error)"])
            return nil
        }
        var headers = [KafkaHeader(key: ModerationHeader.contentType, string: contentType.headerValue)]
        if let correlation = message.headers.last(named: ModerationHeader.correlationID) {
            headers.append(correlation)
        }
        let replyTo = message.headers.last(named: ModerationHeader.replyTo)?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        return KafkaProducerMessage(topic: replyTo ?? configuration.outputTopic, key: message.key, value: value, headers: headers)
    }

    // MARK: rebalance, lag, drain

    private func handleEvents(_ consumer: KafkaConsumer) async {
        for await event in consumer.events {
            switch event {
            case .partitionsAssigned(let partitions):
                state.withLock { $0.assigned += partitions.count }
                metrics.assignedPartitions.set(Double(consumer.assignment.count))
            case .partitionsRevoked(let partitions, let acknowledgement):
                let revoked = Set(partitions)
                // Queued requests of these partitions are the next owner's: drop them, and
                // keep their offsets uncommitted. Finish what is in flight, then commit.
                abandonQueued { revoked.contains($0.message.topicPartition) }
                let deadline = ContinuousClock.now + configuration.drainTimeout
                while tracker.pendingCount(in: revoked) > 0 && ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(10))
                }
                do {
                    try await consumer.commit()
                } catch {
                    logger.warning("commit on revoke failed", metadata: ["error": "\(error)"])
                }
                tracker.forget(revoked)
                acknowledgement.acknowledge()
                metrics.assignedPartitions.set(Double(consumer.assignment.count))
            case .partitionsLost(let partitions):
                let lost = Set(partitions)
                abandonQueued { lost.contains($0.message.topicPartition) }
                tracker.forget(lost)
            case .error(let error):
                if error.isFatal {
                    logger.critical("fatal Kafka error: \(error)")
                    beginStopping()
                } else {
                    logger.warning("Kafka error: \(error)")
                }
            }
        }
    }

    /// Replay: stop once every partition reached its end and every answer is acknowledged.
    private func finishReplay(_ plan: ReplayPlan) async {
        while !stopping {
            if plan.allPartitionsReached && batcher.count == 0 && tracker.pendingCount() == 0 {
                logger.info("replay range done")
                beginStopping()
                return
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    private func abandonQueued(_ predicate: (WorkItem) -> Bool) {
        for item in batcher.removeAll(where: predicate) {
            tracker.abandon(item.message.topicPartition, offset: item.message.offset)
        }
        metrics.queueDepth.set(Double(batcher.count))
    }

    private func waitForInFlight(within timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while tracker.pendingCount() > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let left = tracker.pendingCount()
        if left > 0 {
            logger.warning("\(left) results still unacknowledged after \(timeout); they will be re-read after restart")
        }
    }

    private func reportLag(_ consumer: KafkaConsumer) async {
        while !Task.isCancelled && !stopping {
            let assignment = consumer.assignment
            metrics.pausedPartitions.set(Double(consumer.pausedPartitions.count))
            if !assignment.isEmpty, let committed = try? await consumer.committed(assignment, timeout: .seconds(5)) {
                for position in committed {
                    guard let marks = try? await consumer.watermarks(topic: position.topic, partition: position.partition, timeout: .seconds(5))
                    else { continue }
                    metrics.setLag(topic: position.topic, partition: position.partition, lag: marks.high - (position.offset ?? marks.low))
                }
            }
            try? await Task.sleep(for: configuration.lagInterval)
        }
    }

    private func startHealthServer() throws(WorkerError) -> HealthServer? {
        guard let port = configuration.metricsPort else { return nil }
        return try HealthServer(host: configuration.metricsHost, port: port, logger: logger) { [self] path in
            switch path {
            case "/metrics":
                return .init(status: 200, contentType: "text/plain; version=0.0.4", body: metrics.render())
            case "/healthz":
                return .init(status: 200, body: "ok\n")
            case "/readyz":
                return isReady ? .init(status: 200, body: "ready\n") : .init(status: 503, body: "not ready\n")
            default:
                return .init(status: 404, body: "not found\n")
            }
        }
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

extension Array {
    subscript(safe index: Int) -> Element? {
        indices.contains(index) ? self[index] : nil
    }
}

/// Counters read by callers (replay progress) without going through Prometheus.
final class WorkerCounts: Sendable {
    let answered = Atomic<Int>(0)
    let deadLettered = Atomic<Int>(0)
}
