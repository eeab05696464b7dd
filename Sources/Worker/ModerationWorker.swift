import HTTPServer
import Inference
import Kafka
import Logging
import ServiceLifecycle
import Synchronization
import Tracing

/// The moderation worker: Kafka requests → tokenize → micro-batches → model → results.
///
///     consumer ─▶ RequestIntake ─▶ RequestPreparer ─▶ MicroBatcher ─▶ InferenceLoop (the model)
///                  (bytes budget,     │ answered at once                      │
///                   request ledger)   ▼                                       ▼
///                              ResultSender ◀── ResultComposer / DeadLetterComposer
///                                   │ acks ─▶ RequestLedger ─▶ store offset ─▶ commit
///
/// At-least-once: a message's offset is stored only after its result (or dead letter) is
/// acknowledged by the broker, together with every earlier message of its partition;
/// librdkafka commits stored offsets every `commitInterval`, and the worker commits on
/// revoke and on shutdown. Run it under swift-service-lifecycle: SIGTERM stops fetching,
/// finishes the running batch, waits (up to `drainTimeout`) for its results, commits and
/// leaves the group. A fatal error (producer fenced, dead-letter topic refusing everything)
/// stops it the same way without waiting, and `run()` throws `WorkerError.fatal`.
///
/// This type only wires the parts together and orders the shutdown; each step of a
/// request's life is in its own file (docs/architecture.md has the map).
public final class ModerationWorker: SupervisedService, Sendable {
    private let configuration: WorkerConfiguration
    private let model: DuoGuardModel
    private let logger: Logger
    public let metrics: WorkerMetrics
    private let state = WorkerState()
    private let counts = WorkerCounts()
    private let ledger = RequestLedger()
    private let replayDone = Atomic<Bool>(false)
    private let batcher: MicroBatcher<BatchItem>
    private let budget: InFlightBudget
    private let tracing: WorkerTracing
    /// Scores of texts seen before; `nil` when `scoreCacheBytes` is 0.
    public let scoreCache: ScoreCache?
    /// Where a yielding replay's intake waits; `nil` unless `liveYield` is set.
    public let yieldGate: ReplayYieldGate?
    /// The synchronous entry sharing this worker's batcher (issue 22), and its HTTP API when configured.
    public let frontDoor: ModerationFrontDoor
    private let front: FrontDoorConfiguration?

    public init(
        configuration: WorkerConfiguration, model: DuoGuardModel, logger: Logger, metrics: WorkerMetrics = WorkerMetrics(),
        front: FrontDoorConfiguration? = nil
    ) {
        self.configuration = configuration
        self.front = front
        self.model = model
        self.logger = logger
        self.metrics = metrics
        self.batcher = MicroBatcher(
            limits: .init(
                tokenBudget: model.options.batchTokenBudget, maxItems: configuration.maxBatch,
                maxWait: configuration.maxWait, capacity: configuration.queueCapacity,
                urgentFillTokens: front?.syncFillTokens ?? FrontDoorConfiguration.defaultSyncFillTokens,
                adaptiveWait: configuration.adaptiveWait))
        self.budget = InFlightBudget(limit: configuration.maxInFlightBytes)
        self.frontDoor = ModerationFrontDoor(
            batcher: batcher, model: model, workerID: configuration.workerID,
            rules: .init(
                maxTextBytes: configuration.maxTextBytes, metadataLimits: configuration.metadataLimits, scoring: configuration.scoring,
                thresholds: configuration.thresholds),
            admission: SyncAdmission(maxRequests: front?.maxRequests ?? 64, maxBytes: front?.maxBytes ?? 4 << 20), metrics: metrics,
            logger: logger)
        // A bootstrapped exporter's span ends go through a bounded queue, off the data path;
        // a tracer given in the configuration (tests) and the no-op one are used as they are.
        let tracer: any Tracer
        if let given = configuration.tracer {
            tracer = given
        } else if InstrumentationSystem.tracer is NoOpTracer {
            tracer = InstrumentationSystem.tracer
        } else {
            tracer = QueuedEndTracer(inner: InstrumentationSystem.tracer, queue: SpanEndQueue { [metrics] in metrics.spansDropped.increment() })
        }
        self.tracing = WorkerTracing(tracer: tracer, group: configuration.groupID)
        scoreCache = configuration.scoreCacheBytes > 0
            ? ScoreCache(
                capacityBytes: configuration.scoreCacheBytes, digester: ScoreDigester(model: model.identity, scoring: configuration.scoring),
                metrics: metrics.scoreCache)
            : nil
        yieldGate = configuration.liveYield.map { ReplayYieldGate(pacing: $0.pacing() ?? .off) }
        frontDoor.useScoreCache(scoreCache)
    }

    /// Requests answered so far (result or dead letter acknowledged), and of them dead-lettered.
    public var answeredCount: Int { counts.answered.load(ordering: .relaxed) }
    public var deadLetteredCount: Int { counts.deadLettered.load(ordering: .relaxed) }

    /// A replay stopped because the ledger said every record of its ranges is answered.
    public var replayCompleted: Bool { replayDone.load(ordering: .acquiring) }

    /// True once consuming, until shutdown begins (`/readyz`).
    public var isReady: Bool { state.isReady }

    /// True once a fatal error happened (the process must exit with status 2).
    public var failed: Bool { state.fatalError != nil }

    /// Runs `action` once when the worker begins to stop (signal, fatal error, finished
    /// replay), or now if it has: the process arms its shutdown deadline with it.
    public func whenStopping(_ action: @escaping @Sendable () -> Void) { state.onStop(action) }

    public func run() async throws {
        do {
            try configuration.validate(batchTokenBudget: model.options.batchTokenBudget)
        } catch {
            throw WorkerError.startup("\(error)")
        }
        // A live group that cannot be read stops the replay before anything else starts.
        let liveLag: LiveGroupLag?
        if let settings = configuration.liveYield {
            liveLag = try await LiveGroupLag.open(settings, kafka: configuration.kafka, logger: logger)
        } else {
            liveLag = nil
        }
        let server: HealthServer?
        let api: HealthServer?
        let consumer: KafkaConsumer
        let producer: KafkaProducer
        do {
            server = try startHealthServer()
            do {
                api = try front.flatMap { try $0.startServer(frontDoor: frontDoor, isReady: { [state] in state.isReady }, logger: logger) }
            } catch {
                await server?.shutdown()
                throw error
            }
            do {
                (consumer, producer) = try await connect()
            } catch {
                await api?.shutdown()
                await server?.shutdown()
                throw error
            }
        } catch {
            await liveLag?.close()
            throw error
        }
        state.markRunning()
        logger.info(
            "worker started",
            metadata: [
                "group": "\(configuration.groupID)", "input": "\(configuration.inputTopics)",
                "output": "\(configuration.outputTopic)", "dlq": "\(configuration.deadLetterTopic)",
                "model": "\(model.identity.name) \(model.identity.quantization)", "kernels": "\(model.kernelName)",
                "packed_weights": "\(model.packedWeights)",
            ])

        let deadLetters = DeadLetterComposer(topic: configuration.deadLetterTopic)
        let sender = ResultSender(
            producer: producer, ledger: ledger, offsets: consumer, budget: budget, deadLetters: deadLetters,
            metrics: metrics, counts: counts, logger: logger, maxBackoff: configuration.maxRetryBackoff,
            maxRetryAge: configuration.maxRetryAge, tracing: tracing
        ) { [state, logger] reason in
            logger.critical("fatal: \(reason); stopping without committing past unanswered requests")
            state.fail(reason)
        }
        let preparer = RequestPreparer(
            configuration: configuration, model: model, deadLetters: deadLetters,
            topics: configuration.replyTo.pattern == nil ? nil : ReplyTopicDirectory(producer: producer, policy: configuration.replyTo),
            scoreCache: scoreCache)
        // Stopping hands queued requests back and releases whoever waits on the queue or budget
        // (`WorkerStop.steps` says in which order, and why).
        let stop = WorkerStop(ledger: ledger, batcher: batcher, budget: budget, metrics: metrics, yieldGate: yieldGate, logger: logger)
        state.onStop { stop.begin() }
        // A fatal stop does not wait for drains (nothing more will be acknowledged usefully).
        state.onFatal { [ledger] in ledger.releaseWaiters() }
        let lag = Task { await LagReporter(consumer: consumer, metrics: metrics, interval: configuration.lagInterval).run() }
        // Made now, so the start-up reading closes the gate before intake takes anything.
        let watcher = liveLag.flatMap { liveLag in
            yieldGate.flatMap { LiveYieldWatcher(lag: liveLag, settings: liveLag.settings, gate: $0, metrics: metrics.replayYield, logger: logger) }
        }
        let yieldWatch = Task { await watcher?.run() }

        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await RebalanceHandler(
                            consumer: consumer, ledger: self.ledger, metrics: self.metrics,
                            drainTimeout: self.configuration.drainTimeout, commitTimeout: self.configuration.commitTimeout, logger: self.logger,
                            abandonQueued: { stop.abandonQueued($0) }, cancelRetries: { sender.cancelRetries(of: $0) },
                            isStopping: { self.state.isStopping }
                        ).run()
                    }
                    group.addTask {
                        await InferenceLoop(
                            model: self.model, batcher: self.batcher, preparer: preparer, sender: sender,
                            thresholds: self.configuration.thresholds, metrics: self.metrics, logger: self.logger,
                            tracing: self.tracing, yieldGate: self.yieldGate
                        ).run()
                    }
                    group.addTask { await self.stopOnFatalError("producer", producer.waitForFatalError) }
                    group.addTask { await self.stopOnFatalError("consumer", consumer.waitForFatalError) }
                    if let plan = self.configuration.replay {
                        group.addTask { await self.finishReplay(plan) }
                    }
                    group.addTask {
                        await RequestIntake(
                            consumer: consumer, ledger: self.ledger, batcher: self.batcher, budget: self.budget,
                            preparer: preparer, sender: sender, metrics: self.metrics, state: self.state,
                            replay: self.configuration.replay, tracing: self.tracing, logText: self.configuration.logText,
                            logger: self.logger, yieldGate: self.yieldGate
                        ).run()
                    }
                    // Intake or inference ended, a fatal error, or a finished replay: stop.
                    await group.next()
                    self.state.beginStopping()
                    if self.state.fatalError == nil {
                        await stop.waitForInFlight(within: self.configuration.drainTimeout, clock: ContinuousClock())
                    }
                    // Retries still waiting are handed back (frozen below, bytes released).
                    sender.cancelRetries(of: nil)
                    // No librdkafka call may outlive the consumer: end the lag reporter first.
                    lag.cancel()
                    await lag.value
                    yieldWatch.cancel()
                    await yieldWatch.value
                    do {
                        try await consumer.commit(timeout: self.configuration.commitTimeout)
                    } catch {
                        self.logger.warning("final commit failed", metadata: ["error": "\(error)"])
                    }
                    await consumer.close()  // leaves the group; ends the events task and intake
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                self.logger.info("shutdown requested: stopping intake, finishing in-flight work")
                self.state.beginStopping()
            }
        } onCancel: {
            state.beginStopping()
        }
        lag.cancel()
        yieldWatch.cancel()
        await yieldWatch.value
        await liveLag?.close()
        // Each step of the stop is bounded by its timeout; `ShutdownBound` adds them up.
        await producer.close(flushTimeout: state.fatalError == nil ? configuration.flushTimeout : ShutdownBound.fatalFlush)
        await api?.shutdown()
        await server?.shutdown()
        state.markStopped()
        if let reason = state.fatalError {
            logger.error("worker stopped after a fatal error", metadata: ["reason": "\(reason)"])
            throw WorkerError.fatal(reason)
        }
        logger.info("worker stopped")
    }

    // MARK: parts

    /// The consumer and the producer; fails fast, with a clear message, when the cluster
    /// cannot be reached.
    private func connect() async throws(WorkerError) -> (KafkaConsumer, KafkaProducer) {
        // Its timeouts are derived from the configuration's, in one place (tested there).
        let consumerConfiguration = configuration.consumerConfiguration
        do {
            let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
            if let plan = configuration.replay {  // replay's end: the last consumable offset
                consumer.onPartitionEnd { [ledger] in
                    guard $0.topic == plan.topic else { return }
                    plan.reachedEnd(partition: $0.partition, nextOffset: $1)
                    ledger.recheck()  // the partition's end for `finishReplay` may have moved
                }
            }
            do {
                // The producer's message.max.bytes stays the broker's (Kafka's default, or -X):
                // a dead letter that does not fit is sent again without the request's value.
                let producer = try KafkaProducer(configuration: configuration.producerConfiguration, logger: logger)
                do {
                    try Self.requireOwnTopics(in: try await producer.topics(), output: configuration.outputTopic, deadLetters: configuration.deadLetterTopic)
                    // A replay starts each partition at its range (or resume) position.
                    let starts = configuration.replay.map { plan in
                        Dictionary(uniqueKeysWithValues: plan.ranges.map { (KafkaTopicPartition(topic: plan.topic, partition: $0.key), $0.value.lowerBound) })
                    } ?? [:]
                    try consumer.subscribe(topics: configuration.inputTopics, initialOffsets: starts)
                    return (consumer, producer)
                } catch {
                    await producer.close(flushTimeout: .zero)
                    throw error
                }
            } catch {
                await consumer.close()
                throw error
            }
        } catch let error as WorkerError {
            throw error
        } catch {
            throw .startup("\(error)")
        }
    }

    /// The output and dead-letter topics must exist before the worker starts: it never
    /// creates a topic (its producer has `allow.auto.create.topics=false`), so a missing one
    /// would fail every result or dead letter at run time (a fatal stop after the first
    /// request) instead of a clear message at start.
    static func requireOwnTopics(in topics: [String: Int], output: String, deadLetters: String) throws(WorkerError) {
        for (flag, topic) in [("--output-topic", output), ("--dlq-topic", deadLetters)] where topics[topic] == nil {
            throw .startup("\(flag) '\(topic)' does not exist on the cluster; the worker never creates topics: create it first (docs/operations.md)")
        }
    }

    /// A fatal client error (e.g. a fenced idempotent producer) makes every later call fail:
    /// stop instead of retrying for ever while `/readyz` says ready. Returns when the client
    /// closes without one.
    private func stopOnFatalError(_ client: String, _ wait: () async -> KafkaError?) async {
        guard let error = await wait() else { return }
        logger.critical("fatal Kafka \(client) error: \(error)")
        state.fail("\(client): \(error)")
    }

    /// Replay: stop once the ledger says every record of every range is answered (its
    /// partition's answered position reached the range's end). Not "decided", not "nothing
    /// pending now": a record about to be registered would be missed (issue 17 problem 2).
    private func finishReplay(_ plan: ReplayPlan) async {
        await ledger.answered(through: { plan.ends })
        guard !Task.isCancelled, !state.isStopping else { return }
        replayDone.store(true, ordering: .releasing)
        logger.info("replay range done")
        state.beginStopping()
    }

    private func startHealthServer() throws(WorkerError) -> HealthServer? {
        guard let port = configuration.metricsPort else { return nil }
        let routes = HealthRoutes(metrics: metrics, state: state)
        let server: HealthServer
        do {
            server = try HealthServer(host: configuration.metricsHost, port: port, logger: logger) { path in
                routes.respond(to: path)
            }
        } catch {
            throw .startup(error.description)
        }
        routes.attach(server)
        return server
    }
}

/// Seconds in a duration, as a `Double` (for metrics and result timings).
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
