import Foundation
import Inference
import Logging
import ModerationProto
import Synchronization
import Tokenizer
import Tracing
import XCTest

@testable import Worker

/// The synchronous entry's rules without a broker: the real Llama-3 tokenizer and the real
/// inference loop and batcher, a fake model (scores from the token count, or held on a gate).
final class ModerationFrontDoorTests: XCTestCase {
    /// Scores category 1 (index 0) high when the text has more than 8 tokens; optionally
    /// waits on `gate` before answering, so a test can hold a batch in the model.
    final class FakeModel: RequestClassifier {
        let gate = DispatchSemaphore(value: 0)
        let held: Bool
        let batches = Mutex<[[Int]]>([])
        init(held: Bool = false) { self.held = held }

        func classifyEach(_ prepared: [PreparedText], expired: (Int) -> Bool) -> [Result<Classification, InferenceError>] {
            batches.withLock { $0.append(prepared.map(\.tokenCount)) }
            if held { gate.wait() }
            return prepared.indices.map { index in
                if expired(index) { return .failure(.deadlineExceeded(windowsDone: 0, windows: prepared[index].sequences.count)) }
                var logits = [Float](repeating: -5, count: 12)
                logits[0] = prepared[index].tokenCount > 8 ? 5 : -5
                return .success(Classification(logits: logits))
            }
        }
    }

    private struct Fixture: Sendable {
        let door: ModerationFrontDoor
        let batcher: MicroBatcher<BatchItem>
        let loop: Task<Void, Never>
    }

    private func fixture(model: FakeModel, admission: SyncAdmission = SyncAdmission(maxRequests: 8, maxBytes: 100_000)) throws -> Fixture {
        let tokenizer = try XCTUnwrap(RequestPreparerTests.tokenizer, "run scripts/prepare-tokenizers.sh")
        let batcher = MicroBatcher<BatchItem>(limits: .init(tokenBudget: 512, maxItems: 16, maxWait: .milliseconds(5), capacity: 16))
        let metrics = WorkerMetrics()
        let results = ResultComposer(
            outputTopic: "", workerID: "w1", model: ModerationProto.ModelIdentity(), categoryNames: DuoGuardModel.categoryNames)
        let door = ModerationFrontDoor(
            batcher: batcher, admission: admission, tokenizer: tokenizer, results: results,
            rules: .init(maxTextBytes: 200, metadataLimits: MetadataLimits(), scoring: TextScoring(), thresholds: CategoryThresholds()),
            metrics: FrontDoorMetrics(registry: metrics.registry))
        let loop = InferenceLoop(
            model: model, batcher: batcher, preparer: nil, sender: nil, thresholds: CategoryThresholds(), metrics: metrics,
            logger: Logger(label: "test"), tracing: WorkerTracing(tracer: NoOpTracer(), group: "g"))
        return Fixture(door: door, batcher: batcher, loop: Task { await loop.run() })
    }

    private static func request(_ text: String, id: String = "r1", threshold: Float? = nil) -> ModerationRequest {
        var request = ModerationRequest()
        request.id = id
        request.text = text
        if let threshold { request.threshold = threshold }
        return request
    }

    func testScoresWithTheKafkaPathsResultShape() async throws {
        let f = try fixture(model: FakeModel())
        defer { f.batcher.close() }
        let unsafe = await f.door.classify(Self.request("one two three four five six seven eight nine ten"), deadline: nil, entry: "test")
        XCTAssertEqual(unsafe.status.code, .ok)
        XCTAssertEqual(unsafe.requestID, "r1")
        XCTAssertTrue(unsafe.unsafe)
        XCTAssertEqual(unsafe.probabilities.count, 12)
        XCTAssertEqual(unsafe.categoryNames, [DuoGuardModel.categoryNames[0]])
        XCTAssertFalse(unsafe.hasSource, "a synchronous caller has no Kafka record")
        XCTAssertGreaterThan(unsafe.tokenCount, 8)
        let safe = await f.door.classify(Self.request("hello", id: ""), deadline: nil, entry: "test")
        XCTAssertEqual(safe.status.code, .ok)
        XCTAssertFalse(safe.unsafe)
        XCTAssertTrue(safe.requestID.hasPrefix("sync-"), "an id is made up when the caller gives none")
        // The request's own threshold applies, as on the Kafka path (sigmoid(5) = 0.993).
        let lenient = await f.door.classify(
            Self.request("one two three four five six seven eight nine ten", threshold: 0.999), deadline: nil, entry: "test")
        XCTAssertFalse(lenient.unsafe)
    }

    func testInvalidRequestsAreRefusedWithoutTheModel() async throws {
        let model = FakeModel()
        let f = try fixture(model: model)
        defer { f.batcher.close() }
        let empty = await f.door.classify(Self.request(""), deadline: nil, entry: "test")
        XCTAssertEqual(empty.status.code, .invalidArgument)
        let long = await f.door.classify(Self.request(String(repeating: "a", count: 201)), deadline: nil, entry: "test")
        XCTAssertEqual(long.status.code, .invalidArgument)
        XCTAssertTrue(long.status.message.contains("201"), long.status.message)
        let threshold = await f.door.classify(Self.request("hi", threshold: 1.5), deadline: nil, entry: "test")
        XCTAssertEqual(threshold.status.code, .invalidArgument)
        let expired = await f.door.classify(Self.request("hi"), deadline: Date().addingTimeInterval(-1), entry: "test")
        XCTAssertEqual(expired.status.code, .deadlineExceeded)
        XCTAssertTrue(model.batches.withLock { $0.isEmpty }, "no refused request reached the model")
    }

    func testOverCapacityIsRefusedAtOnceAndExpiredQueuedCallsAreShed() async throws {
        let model = FakeModel(held: true)
        let f = try fixture(model: model, admission: SyncAdmission(maxRequests: 2, maxBytes: 100_000))
        defer { f.batcher.close() }
        // First call: taken into a batch, held in the model.
        let door = f.door
        let first = Task { await door.classify(ModerationFrontDoorTests.request("first"), deadline: nil, entry: "test") }
        while model.batches.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }
        // Second call: admitted, queued behind the held batch, with a deadline that passes there.
        let deadline = Date().addingTimeInterval(0.2)
        let second = Task { await door.classify(ModerationFrontDoorTests.request("second"), deadline: deadline, entry: "test") }
        while f.batcher.urgentCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
        let third = await f.door.classify(Self.request("third"), deadline: nil, entry: "test")
        XCTAssertEqual(third.status.code, .resourceExhausted, "two are admitted: the third is refused, not queued")
        try await Task.sleep(for: .milliseconds(300))
        model.gate.signal()
        let firstResult = await first.value
        XCTAssertEqual(firstResult.status.code, .ok)
        let secondResult = await second.value
        XCTAssertEqual(secondResult.status.code, .deadlineExceeded)
        XCTAssertEqual(model.batches.withLock { $0.count }, 1, "the expired call was shed before the model")
        model.gate.signal()  // lets the next batch through at once
        let after = await f.door.classify(Self.request("after"), deadline: nil, entry: "test")
        XCTAssertEqual(after.status.code, .ok, "capacity is given back")
    }

    func testTheWorkersScoreCacheAnswersARepeatedTextWithoutTheModel() async throws {
        let model = FakeModel()
        let f = try fixture(model: model)
        defer { f.batcher.close() }
        let cache = ScoreCache(capacityBytes: 1 << 20, digester: ScoreDigester(contentHash: "sha256:m", quantization: "Q8_0", scoring: TextScoring()))
        f.door.useScoreCache(cache)
        let text = "one two three four five six seven eight nine ten"
        let first = await f.door.classify(Self.request(text), deadline: nil, entry: "test")
        let second = await f.door.classify(Self.request(text, id: "r2"), deadline: nil, entry: "test")
        XCTAssertEqual(model.batches.withLock { $0.count }, 1, "the repeated text did not reach the model")
        XCTAssertEqual(cache.statistics.hits, 1)
        XCTAssertEqual(second.status.code, .ok)
        XCTAssertEqual(second.requestID, "r2")
        XCTAssertEqual(second.probabilities, first.probabilities)
        XCTAssertEqual(second.tokenCount, first.tokenCount)
        XCTAssertEqual(second.unsafe, first.unsafe)
        // Thresholds apply to the cached classification: the request's own one still counts.
        var lenient = Self.request(text, id: "r3", threshold: 0.999)
        lenient.threshold = 0.999
        let third = await f.door.classify(lenient, deadline: nil, entry: "test")
        XCTAssertFalse(third.unsafe)
        XCTAssertEqual(model.batches.withLock { $0.count }, 1)
    }

    func testStoppingAnswersUnavailable() async throws {
        let f = try fixture(model: FakeModel())
        f.batcher.close()
        let result = await f.door.classify(Self.request("hi"), deadline: nil, entry: "test")
        XCTAssertEqual(result.status.code, .unavailable)
        await f.loop.value
    }
}
