import Foundation
import Inference
import Logging
import ModerationProto
import Synchronization
import Tokenizer

/// The entry of synchronous callers (HTTP, gRPC): the Kafka path's rules for one request,
/// answered to a caller who waits.
///
/// Validation, thresholds, long-text windows and status codes are the Kafka path's
/// (``RequestPreparer``'s rules, ``ResultComposer``'s results); what differs is admission
/// (``SyncAdmission``: over capacity is RESOURCE_EXHAUSTED at once, never an unbounded
/// queue) and priority (``MicroBatcher``'s urgent lane: the next batch takes synchronous
/// requests first). Every answer is a `ModerationResult` whose `status` says what happened;
/// each entry point maps it to its own protocol (HTTP status, gRPC status).
public final class ModerationFrontDoor: Sendable {
    /// The rules and identity results report.
    public struct Rules: Sendable {
        public var maxTextBytes: Int
        public var metadataLimits: MetadataLimits
        public var scoring: TextScoring
        public var thresholds: CategoryThresholds

        public init(maxTextBytes: Int, metadataLimits: MetadataLimits, scoring: TextScoring, thresholds: CategoryThresholds) {
            self.maxTextBytes = maxTextBytes
            self.metadataLimits = metadataLimits
            self.scoring = scoring
            self.thresholds = thresholds
        }
    }

    private let batcher: MicroBatcher<BatchItem>
    private let admission: SyncAdmission
    private let tokenizer: Tokenizer
    private let results: ResultComposer
    private let rules: Rules
    private let metrics: FrontDoorMetrics?
    /// Where each call's timeline goes at debug level (sizes and times, never text).
    private let logger: Logger
    /// The worker's score cache (`--score-cache-bytes`), shared with its Kafka path: a text
    /// scored before is answered without admission, tokenizer or model; a call's new score is
    /// kept. Set once by the worker (``useScoreCache(_:)``); nil: no cache.
    private let scoreCache = Mutex<ScoreCache?>(nil)

    init(
        batcher: MicroBatcher<BatchItem>, admission: SyncAdmission, tokenizer: Tokenizer, results: ResultComposer, rules: Rules,
        metrics: FrontDoorMetrics?, logger: Logger = Logger(label: "duoguard.front")
    ) {
        self.logger = logger
        self.batcher = batcher
        self.admission = admission
        self.tokenizer = tokenizer
        self.results = results
        self.rules = rules
        self.metrics = metrics
    }

    /// The front door of a loaded model, sharing `batcher` with whatever else feeds it.
    convenience init(
        batcher: MicroBatcher<BatchItem>, model: DuoGuardModel, workerID: String, rules: Rules, admission: SyncAdmission,
        metrics: WorkerMetrics, logger: Logger
    ) {
        self.init(
            batcher: batcher, admission: admission, tokenizer: model.tokenizer,
            results: ResultComposer(
                outputTopic: "", workerID: workerID, model: ResultComposer.identity(of: model), categoryNames: model.config.categoryNames),
            rules: rules, metrics: FrontDoorMetrics(registry: metrics.registry), logger: logger)
    }

    /// Makes calls use `cache` (the one the worker's Kafka path uses).
    func useScoreCache(_ cache: ScoreCache?) {
        scoreCache.withLock { $0 = cache }
    }

    /// Category names in model order (what results and the OpenAI mapping use).
    public var categoryNames: [String] { results.categoryNames }
    /// The model as results report it.
    public var model: ModerationProto.ModelIdentity { results.model }

    /// Scores `request` for a caller waiting until `deadline` (nil: no deadline). Never throws:
    /// every outcome is a result with its status (`OK`, `INVALID_ARGUMENT`, `DEADLINE_EXCEEDED`,
    /// `RESOURCE_EXHAUSTED`, `UNAVAILABLE` while stopping, `INTERNAL`).
    ///
    /// - Parameter entry: the entry point's name for metrics (`http`, `grpc`).
    public func classify(_ request: ModerationRequest, deadline: Date?, entry: String) async -> ModerationResult {
        let requestID = request.id.isEmpty ? "sync-\(UUID().uuidString.lowercased())" : request.id
        let started = ContinuousClock.now
        let result = await answer(request, requestID: requestID, deadline: deadline, entry: entry)
        metrics?.answered(
            entry: entry, code: Self.name(of: result.status.code),
            seconds: result.status.code == .ok ? Double((ContinuousClock.now - started) / .milliseconds(1)) / 1000 : nil)
        return result
    }

    private func answer(_ request: ModerationRequest, requestID: String, deadline: Date?, entry: String) async -> ModerationResult {
        var request = request
        func status(_ code: ModerationStatus.Code, _ message: String) -> ModerationResult {
            results.status(code, message, requestID: requestID, request: request, source: nil)
        }
        do {
            try ModerationCodec.validate(request, maxTextBytes: rules.maxTextBytes, metadata: rules.metadataLimits)
        } catch {
            if case .metadataTooLarge = error { request.metadata = [:] }
            return status(.invalidArgument, "\(error)")
        }
        if let deadline, deadline < Date() {
            return status(.deadlineExceeded, "deadline \(deadline) passed before the request was admitted")
        }
        // A text scored before costs nothing: answered at once, before admission.
        let cache = scoreCache.withLock { $0 }
        let cached = results.cached(cache, requestID: requestID, request: request, source: nil, thresholds: rules.thresholds)
        if let result = cached.result { return result }
        let cacheKey = cached.key
        let ticket: SyncAdmission.Ticket
        switch admission.admit(bytes: request.text.utf8.count) {
        case .success(let admitted): ticket = admitted
        case .failure(let refusal): return status(.resourceExhausted, refusal.message)
        }
        metrics?.admitted.set(Double(admission.requests))
        defer {
            admission.release(ticket)
            metrics?.admitted.set(Double(admission.requests))
        }
        let admitted = ContinuousClock.now
        let prepared = rules.scoring.prepare(request.text, tokenizer: tokenizer)
        if rules.scoring.longText == .windows, prepared.sequences.count > rules.scoring.maxWindows {
            return status(
                .invalidArgument, "text needs \(prepared.sequences.count) windows, more than the limit of \(rules.scoring.maxWindows)")
        }
        let enqueued = ContinuousClock.now
        let outcome: SyncOutcome? = await withCheckedContinuation { continuation in
            let call = SyncCall(prepared: prepared, deadline: deadline, enqueued: enqueued) { continuation.resume(returning: $0) }
            if !batcher.enqueueUrgent(.call(call), tokens: prepared.tokenCount) { continuation.resume(returning: nil) }
        }
        switch outcome {
        case nil:
            return status(.unavailable, "the worker is stopping")
        case .classified(let classification, let timing)?:
            let timeline = SyncTimeline(admitted: admitted, enqueued: enqueued, batch: timing, resumed: .now)
            metrics?.record(timeline, entry: entry)
            logger.debug("sync call", metadata: timeline.metadata(entry: entry, tokens: prepared.tokenCount))
            let score = TextScore(classification, of: prepared)
            if let cacheKey { cache?.insert(cacheKey, score) }
            return results.scored(
                requestID: requestID, request: request, source: nil, score: score,
                operatorThresholds: rules.thresholds, queueSeconds: timeline.queueSeconds, inferenceSeconds: timing.modelSeconds)
        case .expired(let message)?:
            return status(.deadlineExceeded, message)
        case .failed(let error)?:
            return status(.internal, "inference failed: \(error)")
        }
    }

    /// The gRPC name of a status code (`RESOURCE_EXHAUSTED`), as metrics label it.
    static func name(of code: ModerationStatus.Code) -> String {
        switch code {
        case .ok: "OK"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .unavailable: "UNAVAILABLE"
        case .internal: "INTERNAL"
        default: "OTHER"
        }
    }
}
