import Foundation
import Inference
import Kafka
import ModerationProto
import TestSupport
@testable import Worker
import XCTest

/// The score cache: its bound and recency rule without a broker, its key, and end to end
/// (real broker, the tiny model, the real Llama-3 tokenizer) that a hit gives exactly the
/// computed scores with the thresholds applied afterwards.
final class ScoreCacheTests: XCTestCase {
    private let digester = ScoreDigester(contentHash: "sha256:model-a", quantization: "Q8_0", scoring: TextScoring())

    private func score(_ logit: Float) -> TextScore {
        TextScore(classification: Classification(logits: [Float](repeating: logit, count: 12)), tokenCount: 7, truncated: false, windows: 1)
    }

    func testKeysNameModelSettingsAndText() {
        let text = "the same greeting"
        XCTAssertEqual(digester.digest(text), digester.digest(text))
        XCTAssertNotEqual(digester.digest(text), digester.digest(text + " "))
        XCTAssertNotEqual(digester.digest(""), digester.digest(" "))
        let otherModel = ScoreDigester(contentHash: "sha256:model-b", quantization: "Q8_0", scoring: TextScoring())
        let otherFormat = ScoreDigester(contentHash: "sha256:model-a", quantization: "Q8_R from Q8_0", scoring: TextScoring())
        let shorter = ScoreDigester(contentHash: "sha256:model-a", quantization: "Q8_0", scoring: TextScoring(maxTokens: 128))
        let windows = ScoreDigester(contentHash: "sha256:model-a", quantization: "Q8_0", scoring: TextScoring(maxTokens: 512, longText: .windows))
        let keys = Set([digester, otherModel, otherFormat, shorter, windows].map { $0.digest(text) })
        XCTAssertEqual(keys.count, 5, "model, weight format, truncation and window mode each change the key")
    }

    func testHitsMissesAndLeastRecentlyUsedEvictionWithinTheByteBound() {
        let cost = score(0).cacheCost
        let cache = ScoreCache(capacityBytes: cost * 3, digester: digester)
        let keys = (0..<5).map { digester.digest("text \($0)") }
        XCTAssertNil(cache.lookup(keys[0]))
        for index in 0..<3 { cache.insert(keys[index], score(Float(index))) }
        XCTAssertEqual(cache.statistics.entries, 3)
        XCTAssertEqual(cache.statistics.bytes, cost * 3)
        // Touch 0: 1 is now the least recently used and goes first.
        XCTAssertEqual(cache.lookup(keys[0]), score(0))
        cache.insert(keys[3], score(3))
        XCTAssertNil(cache.lookup(keys[1]))
        XCTAssertEqual(cache.lookup(keys[2]), score(2))
        cache.insert(keys[4], score(4))
        XCTAssertNil(cache.lookup(keys[0]), "0 was the least recently used after 2 was read")
        XCTAssertEqual(cache.lookup(keys[3]), score(3))
        XCTAssertEqual(cache.lookup(keys[4]), score(4))
        // Replacing a key keeps one entry for it.
        cache.insert(keys[4], score(9))
        XCTAssertEqual(cache.lookup(keys[4]), score(9))
        let statistics = cache.statistics
        XCTAssertEqual(statistics.entries, 3)
        XCTAssertLessThanOrEqual(statistics.bytes, cache.capacityBytes)
        XCTAssertEqual(statistics.evictions, 2)
        XCTAssertEqual(statistics.hits, 5)
        XCTAssertEqual(statistics.misses, 3)
        // A bound smaller than one entry keeps nothing rather than exceeding it.
        let tiny = ScoreCache(capacityBytes: cost - 1, digester: digester)
        tiny.insert(keys[0], score(0))
        XCTAssertEqual(tiny.statistics.entries, 0)
    }

    func testManyEntriesStayWithinTheBoundAndKeepTheNewest() {
        let cost = score(0).cacheCost
        let cache = ScoreCache(capacityBytes: cost * 100, digester: digester)
        for index in 0..<10_000 { cache.insert(digester.digest("t\(index)"), score(Float(index))) }
        XCTAssertEqual(cache.statistics.entries, 100)
        XCTAssertEqual(cache.statistics.evictions, 9_900)
        XCTAssertEqual(cache.lookup(digester.digest("t9999")), score(9_999))
        XCTAssertNil(cache.lookup(digester.digest("t9899")))
        XCTAssertEqual(cache.lookup(digester.digest("t9900")), score(9_900))
    }

    /// The real worker with the cache on: a repeated text is answered from the cache with the
    /// very probabilities the model computed, a request threshold still changes the verdict,
    /// and another model has other keys and other scores.
    func testCachedResultsAreTheComputedOnesAndThresholdsApplyAfterTheCache() async throws {
        let modelPath = try WorkerTestSupport.modelPath()
        let model = try DuoGuardModel.load(path: modelPath)
        let topics = try await WorkerTestSupport.makeTopics(partitions: 1)
        var configuration = WorkerTestSupport.configuration(topics, group: "cache-\(UUID().uuidString.prefix(8))")
        configuration.scoreCacheBytes = 1 << 20
        let worker = WorkerTestSupport.InProcessWorker(configuration: configuration, model: model)
        let text = "Hello there, this greeting is sent again and again."

        try await WorkerTestSupport.produce([WorkerTestSupport.request(id: "first", text: text)], to: topics.input)
        let first = try WorkerTestSupport.decodeResults(try await WorkerTestSupport.read(topics.output, count: 1))[0]
        XCTAssertEqual(first.status.code, .ok)
        XCTAssertGreaterThan(first.inferenceMs, 0, "the first one ran the model")

        var again = WorkerTestSupport.request(id: "again", text: text)
        again.metadata = ["n": "2"]
        var strict = WorkerTestSupport.request(id: "strict", text: text)
        // A threshold on the other side of the score: the verdict must flip.
        strict.threshold = first.unsafe ? min(0.999_999, first.maxProbability + (1 - first.maxProbability) / 2) : first.maxProbability / 2
        let other = WorkerTestSupport.request(id: "other", text: "A different text, never seen before.")
        try await WorkerTestSupport.produce([again, strict, other], to: topics.input)
        let results = try WorkerTestSupport.decodeResults(try await WorkerTestSupport.read(topics.output, count: 4))
        try await worker.stop()
        let byID = Dictionary(results.map { ($0.requestID, $0) }, uniquingKeysWith: { a, _ in a })
        let cached = try XCTUnwrap(byID["again"]), flipped = try XCTUnwrap(byID["strict"]), fresh = try XCTUnwrap(byID["other"])

        XCTAssertEqual(cached.probabilities, first.probabilities, "a hit gives exactly the computed probabilities")
        XCTAssertEqual(cached.scores, first.scores)
        XCTAssertEqual(cached.maxProbability, first.maxProbability)
        XCTAssertEqual(cached.tokenCount, first.tokenCount)
        XCTAssertEqual(cached.windows, first.windows)
        XCTAssertEqual(cached.unsafe, first.unsafe)
        XCTAssertEqual(cached.metadata, ["n": "2"], "the result is the request's own")
        XCTAssertEqual(cached.inferenceMs, 0, "answered without the model")
        XCTAssertEqual(flipped.probabilities, first.probabilities)
        XCTAssertNotEqual(flipped.unsafe, first.unsafe, "the request's threshold is applied after the cache")
        XCTAssertNotEqual(fresh.probabilities, first.probabilities)
        let statistics = try XCTUnwrap(worker.worker.scoreCache).statistics
        XCTAssertEqual(statistics.hits, 2)
        XCTAssertEqual(statistics.misses, 2)
        XCTAssertEqual(statistics.entries, 2, "the text is not stored twice, the new one is added")
        let metrics = worker.worker.metrics.render()
        XCTAssertTrue(metrics.contains("duoguard_score_cache_hits_total 2"), metrics)
        XCTAssertTrue(metrics.contains("duoguard_score_cache_misses_total 2"), metrics)

        // What the model computes now, alone and beside another text, is what was cached.
        let alone = try model.score([text], scoring: configuration.scoring)[0].classification
        let batched = try model.score(["Some other words first.", text, "and after"], scoring: configuration.scoring)[1].classification
        XCTAssertEqual(alone.probabilities, first.probabilities)
        XCTAssertEqual(batched.probabilities, first.probabilities, "a text scores the same in any batch")

        // Another model file (the same checkpoint in f32 instead of Q8_0): another key (a miss
        // in this cache) and other scores.
        let otherPath = FileManager.default.temporaryDirectory.appendingPathComponent("duoguard-cache-f32-\(getpid()).gguf").path
        let tokenizer = WorkerTestSupport.root.appendingPathComponent("Tests/Fixtures/generated/llama3.2/tokenizer.json").path
        let status = try WorkerTestSupport.run(
            try WorkerTestSupport.binary,
            ["convert", WorkerTestSupport.root.appendingPathComponent("Tests/InferenceTests/Fixtures/tiny-a").path,
             "--output", otherPath, "--type", "f32", "--tokenizer", tokenizer])
        XCTAssertEqual(status, 0)
        defer { try? FileManager.default.removeItem(atPath: otherPath) }
        let otherModel = try DuoGuardModel.load(path: otherPath)
        XCTAssertNotEqual(otherModel.identity.contentHash, model.identity.contentHash)
        let cache = try XCTUnwrap(worker.worker.scoreCache)
        XCTAssertNotNil(cache.lookup(cache.key(for: text)))
        let otherKey = ScoreDigester(model: otherModel.identity, scoring: configuration.scoring).digest(text)
        XCTAssertNil(cache.lookup(otherKey), "another model's key is not this one's")
        let otherScore = try otherModel.score([text], scoring: configuration.scoring)[0].classification
        XCTAssertNotEqual(otherScore.probabilities, first.probabilities)
    }

    /// In-flight coalescing's rule: a batch's repeats copy their first copy, a key cached
    /// meanwhile is taken from the cache, uncacheable requests and deadlines keep their own runs.
    func testCoalescingScoresEachTextOnceAndKeepsDeadlinesTheirOwn() throws {
        let a = digester.digest("a"), b = digester.digest("b"), c = digester.digest("c")
        let cached = score(7)
        var looked: [ScoreDigest] = []
        let plan = ScoreCoalescing(
            [.init(key: a), .init(key: nil), .init(key: a), .init(key: c), .init(key: b, hasDeadline: true), .init(key: b),
             .init(key: b, hasDeadline: true), .init(key: c), .init(key: b)]
        ) { key in
            looked.append(key)
            return key == c ? cached : nil
        }
        XCTAssertEqual(
            plan.sources,
            [.compute(0), .compute(1), .copy(of: 0), .cached(cached), .compute(2), .compute(3), .compute(4), .cached(cached), .copy(of: 5)])
        XCTAssertEqual(plan.computed, [0, 1, 4, 5, 6], "a deadline request neither leads nor copies")
        XCTAssertEqual(plan.copies, 2)
        XCTAssertTrue(plan.isComputed(5))
        XCTAssertFalse(plan.isComputed(8))
        XCTAssertEqual(looked.filter { $0 == a }.count, 1, "a copy needs no lookup")
        let x = Classification(logits: [1, 2]), y = Classification(logits: [3, 4])
        let outcomes = plan.outcomes([.success(x), .success(y), .failure(.deadlineExceeded(windowsDone: 0, windows: 1)), .success(x), .success(y)])
        XCTAssertEqual(outcomes.count, 9)
        XCTAssertEqual(try outcomes[2].get(), x, "the copy has its leader's outcome")
        XCTAssertEqual(try outcomes[3].get(), cached.classification)
        XCTAssertEqual(try outcomes[8].get(), x, "copies the non-deadline request of its key (index 5)")
        XCTAssertThrowsError(try outcomes[4].get())
        XCTAssertNoThrow(try outcomes[5].get(), "another request's deadline failure is not copied")

        // Counted as coalesced (a queued lookup that misses counts nothing: it missed at intake).
        let cache = ScoreCache(capacityBytes: 1 << 16, digester: digester)
        XCTAssertNil(cache.lookupQueued(a))
        cache.insert(a, score(1))
        XCTAssertEqual(cache.lookupQueued(a), score(1))
        cache.noteCoalesced(2)
        XCTAssertEqual(cache.statistics.coalesced, 3)
        XCTAssertEqual(cache.statistics.misses, 0)
        XCTAssertEqual(cache.statistics.hits, 0)
    }

    /// Against the real worker: repeats sent together (still queued while their first copy is
    /// scored) cost no model run, and get exactly the first copy's scores.
    func testRepeatsInFlightAreScoredOnce() async throws {
        let model = try DuoGuardModel.load(path: try WorkerTestSupport.modelPath())
        let topics = try await WorkerTestSupport.makeTopics(partitions: 1)
        var configuration = WorkerTestSupport.configuration(topics, group: "coalesce-\(UUID().uuidString.prefix(8))")
        configuration.scoreCacheBytes = 1 << 20
        let worker = WorkerTestSupport.InProcessWorker(configuration: configuration, model: model)
        let texts = ["spam spam spam", "hello", "spam spam spam", "spam spam spam", "hello", "a third text", "spam spam spam", "hello"]
        try await WorkerTestSupport.produce(
            texts.enumerated().map { WorkerTestSupport.request(id: "r\($0.offset)", text: $0.element) }, to: topics.input)
        let results = try WorkerTestSupport.decodeResults(try await WorkerTestSupport.read(topics.output, count: texts.count))
        try await worker.stop()
        let byID = Dictionary(results.map { ($0.requestID, $0) }, uniquingKeysWith: { a, _ in a })
        for (index, text) in texts.enumerated() {
            let first = try XCTUnwrap(byID["r\(texts.firstIndex(of: text)!)"])
            let this = try XCTUnwrap(byID["r\(index)"])
            XCTAssertEqual(this.status.code, .ok)
            XCTAssertEqual(this.probabilities, first.probabilities, "request \(index) has its text's scores")
        }
        let statistics = try XCTUnwrap(worker.worker.scoreCache).statistics
        XCTAssertEqual(statistics.hits + statistics.misses, texts.count)
        XCTAssertEqual(statistics.hits + statistics.coalesced, texts.count - Set(texts).count, "every repeat is answered without the model")
        XCTAssertEqual(statistics.misses - statistics.coalesced, Set(texts).count, "one model run per distinct text")
        XCTAssertEqual(statistics.inserts, Set(texts).count)
        XCTAssertTrue(worker.worker.metrics.render().contains("duoguard_score_cache_coalesced_total \(statistics.coalesced)"))
    }
}
