import Foundation
import Inference
import Kafka
import Logging
import ModerationProto
import Synchronization
import Tracing
import XCTest

@testable import Worker

/// Issue 22's latency bound without a broker and without wall time: a synchronous caller that
/// arrives while a stream batch runs waits for that batch and then for its own short batch —
/// nothing more — however long the backlog behind it. The real front door (real Llama-3
/// tokenizer), batcher and inference loop; the model is a fake whose cost is a virtual clock
/// (a fixed cost per batch plus a cost per token, as the padding-free forward pass costs), so
/// the bound is checked in the model's own time, not in a loaded machine's.
final class SyncCallerWaitTests: XCTestCase {
    /// Token id of the fake stream requests (a call's tokens come from the real tokenizer).
    static let streamToken: Int32 = 7

    /// Costs `perBatch + perToken × tokens` virtual milliseconds per batch; holds its first
    /// batch until `release()`, so a test can put a caller in the lane while it "runs".
    final class MeteredModel: RequestClassifier {
        static let perBatch = 25
        static let perToken = 3
        struct Run: Sendable {
            var start: Int
            var end: Int
            var calls: Int
            var streamTokens: Int
            var tokens: Int
        }

        let runs = Mutex<[Run]>([])
        private let hold = DispatchSemaphore(value: 0)
        private let firstStarted = DispatchSemaphore(value: 0)

        static func cost(tokens: Int) -> Int { perBatch + perToken * tokens }

        func release() { hold.signal() }

        /// Waits (off the cooperative pool) until the first batch is in the model.
        func waitForFirstBatch() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    self.firstStarted.wait()
                    continuation.resume()
                }
            }
        }

        func classifyEach(_ prepared: [PreparedText], expired: (Int) -> Bool) -> [Result<Classification, InferenceError>] {
            let isStream = prepared.map { text in text.sequences.allSatisfy { $0.dropFirst().allSatisfy { $0 == SyncCallerWaitTests.streamToken } } }
            let tokens = prepared.reduce(0) { $0 + $1.tokenCount }
            let streamTokens = zip(prepared, isStream).reduce(0) { $0 + ($1.1 ? $1.0.tokenCount : 0) }
            let first = runs.withLock { $0.isEmpty }
            if first {
                firstStarted.signal()
                hold.wait()
            }
            runs.withLock { runs in
                let start = runs.last?.end ?? 0
                runs.append(
                    Run(start: start, end: start + Self.cost(tokens: tokens), calls: isStream.count { !$0 }, streamTokens: streamTokens, tokens: tokens))
            }
            return prepared.map { _ in .success(Classification(logits: [Float](repeating: -5, count: 12))) }
        }
    }

    private struct Fixture {
        let door: ModerationFrontDoor
        let batcher: MicroBatcher<BatchItem>
        let loop: Task<Void, Never>
        let metrics: WorkerMetrics
    }

    /// A batcher already holding `backlog` stream requests of 64 tokens (a full batch is 32 of
    /// them at the 2,048-token budget), and the loop running on it.
    private func fixture(model: MeteredModel, backlog: Int, fill: Int?) async throws -> Fixture {
        let tokenizer = try XCTUnwrap(RequestPreparerTests.tokenizer, "run scripts/prepare-tokenizers.sh")
        var limits = MicroBatcher<BatchItem>.Limits(tokenBudget: 2048, maxItems: 64, maxWait: .milliseconds(5), capacity: backlog)
        if let fill { limits.urgentFillTokens = fill }
        let batcher = MicroBatcher<BatchItem>(limits: limits)
        let source = KafkaConsumerMessage(topic: "requests", partition: 0, offset: 0, key: nil, value: [], headers: [])
        for index in 0..<backlog {
            var request = ModerationRequest()
            request.id = "s\(index)"
            let item = WorkItem(
                source: source, request: request, requestID: request.id, contentType: .json, trace: TraceHeaders(), destination: "out",
                prepared: PreparedText(sequences: [[128000] + Array(repeating: Self.streamToken, count: 63)], truncated: false),
                deadline: nil, read: .now)
            let added = await batcher.enqueue(.stream(item), tokens: 64)
            XCTAssertTrue(added)
        }
        let metrics = WorkerMetrics()
        let results = ResultComposer(
            outputTopic: "", workerID: "w1", model: ModerationProto.ModelIdentity(), categoryNames: DuoGuardModel.categoryNames)
        let door = ModerationFrontDoor(
            batcher: batcher, admission: SyncAdmission(maxRequests: 8, maxBytes: 100_000), tokenizer: tokenizer, results: results,
            rules: .init(maxTextBytes: 200, metadataLimits: MetadataLimits(), scoring: TextScoring(), thresholds: CategoryThresholds()),
            metrics: FrontDoorMetrics(registry: metrics.registry))
        let loop = InferenceLoop(
            model: model, batcher: batcher, preparer: nil, sender: nil, thresholds: CategoryThresholds(), metrics: metrics,
            logger: Logger(label: "test"), tracing: WorkerTracing(tracer: NoOpTracer(), group: "g"))
        return Fixture(door: door, batcher: batcher, loop: Task { await loop.run() }, metrics: metrics)
    }

    private static func request(_ text: String) -> ModerationRequest {
        var request = ModerationRequest()
        request.text = text
        return request
    }

    /// Puts `texts` in the urgent lane while the first (full) stream batch is held in the model,
    /// lets it go, and returns the model's runs once the whole backlog has gone through.
    private func callDuringFirstBatch(
        _ f: Fixture, _ model: MeteredModel, texts: [String], backlog: Int
    ) async throws -> (runs: [MeteredModel.Run], results: [ModerationResult]) {
        await model.waitForFirstBatch()
        let door = f.door
        let calls = texts.map { text in Task { await door.classify(SyncCallerWaitTests.request(text), deadline: nil, entry: "test") } }
        while f.batcher.urgentCount < texts.count { try await Task.sleep(for: .milliseconds(2)) }
        model.release()
        var results: [ModerationResult] = []
        for call in calls { results.append(await call.value) }
        while model.runs.withLock({ $0.reduce(0) { $0 + $1.streamTokens } }) < backlog * 64 {
            try await Task.sleep(for: .milliseconds(5))
        }
        f.batcher.close()
        await f.loop.value
        return (model.runs.withLock { $0 }, results)
    }

    /// The default: the caller's batch is its own (no stream fill), taken right after the
    /// running one, so its wait is at most the running batch plus what it costs on an idle
    /// worker — issue 22's bound, in the model's time.
    func testACallWaitsForTheRunningBatchAndItsOwnIdleCostOnly() async throws {
        let model = MeteredModel()
        let backlog = 96
        let f = try await fixture(model: model, backlog: backlog, fill: nil)
        let (runs, results) = try await callDuringFirstBatch(f, model, texts: ["is this fine?"], backlog: backlog)
        XCTAssertEqual(results.map(\.status.code), [.ok])
        XCTAssertEqual(runs[0].calls, 0, "the running batch is the stream's")
        XCTAssertEqual(runs[0].streamTokens, 2048, "a full stream batch was running")
        XCTAssertEqual(runs[1].calls, 1, "the call is in the very next batch, ahead of the backlog")
        XCTAssertEqual(runs[1].streamTokens, 0, "by default no stream request makes the caller's batch longer")
        let callTokens = runs[1].tokens
        // Arrived at the running batch's start at the latest possible point (the worst case).
        let waited = runs[1].end - runs[0].start
        let bound = (runs[0].end - runs[0].start) + MeteredModel.cost(tokens: callTokens)
        XCTAssertLessThanOrEqual(waited, bound, "running batch + own idle batch")
        // The backlog lost one idle-sized batch of model time, nothing else.
        let streamBatches = runs.filter { $0.calls == 0 }
        XCTAssertEqual(streamBatches.reduce(0) { $0 + $1.streamTokens }, backlog * 64)
        XCTAssertEqual(streamBatches.count, backlog / 32, "the stream still runs full batches")
        // The worker's metrics keep stream batches apart from callers' ones, and the call's stages.
        let text = f.metrics.render()
        XCTAssertTrue(text.contains("duoguard_batch_seconds_count{kind=\"stream\"} \(backlog / 32)"), text)
        XCTAssertTrue(text.contains("duoguard_batch_seconds_count{kind=\"calls\"} 1"), text)
        for stage in ["prepare", "queue", "dispatch", "model", "resume"] {
            XCTAssertTrue(text.contains("duoguard_sync_stage_seconds_count{entry=\"test\",stage=\"\(stage)\"} 1"), stage)
        }
    }

    /// Several callers arriving during one running batch share the next batch: none waits for a
    /// second stream batch, and their batch costs what they cost together on an idle worker.
    func testCallersArrivingTogetherShareTheNextBatch() async throws {
        let model = MeteredModel()
        let backlog = 64
        let f = try await fixture(model: model, backlog: backlog, fill: nil)
        let texts = ["first caller", "second caller here", "a third caller, a bit longer than the others"]
        let (runs, results) = try await callDuringFirstBatch(f, model, texts: texts, backlog: backlog)
        XCTAssertEqual(results.map(\.status.code), [.ok, .ok, .ok])
        XCTAssertEqual(runs[1].calls, 3)
        XCTAssertEqual(runs[1].streamTokens, 0)
        XCTAssertEqual(runs.dropFirst(2).filter { $0.calls > 0 }.count, 0, "no caller left for a later batch")
    }

    /// An operator who trades caller latency for stream throughput (`--sync-fill-tokens`) gets
    /// stream requests in the caller's batch up to that many tokens, counted with the callers'
    /// own (a batch's cost is its tokens): the caller's batch costs at most the fill's tokens.
    func testStreamFillIsBoundedInTokensWithTheCallersOwn() async throws {
        let model = MeteredModel()
        let backlog = 64
        let f = try await fixture(model: model, backlog: backlog, fill: 256)
        let (runs, results) = try await callDuringFirstBatch(f, model, texts: ["is this fine?"], backlog: backlog)
        XCTAssertEqual(results.map(\.status.code), [.ok])
        XCTAssertEqual(runs[1].calls, 1)
        XCTAssertGreaterThan(runs[1].streamTokens, 0, "the stream fills the caller's batch")
        XCTAssertLessThanOrEqual(runs[1].tokens, 256, "fill counted in tokens, the caller's included")
        let waited = runs[1].end - runs[0].start
        XCTAssertLessThanOrEqual(waited, (runs[0].end - runs[0].start) + MeteredModel.cost(tokens: 256))
        // What the earlier default (256) did to the bound: the fill's model time comes on top of
        // "running batch + the call's idle cost" (the quiet benchmark's miss, in part).
        XCTAssertGreaterThan(waited, (runs[0].end - runs[0].start) + MeteredModel.cost(tokens: runs[1].tokens - runs[1].streamTokens))
    }
}
