import Inference
import Kafka
import ModerationProto

extension ResultComposer {
    /// What the score cache says about a request's text, from any entry point.
    struct CacheAnswer: Sendable {
        /// The text's key (to insert its score once computed); nil with no cache.
        var key: ScoreDigest?
        /// The scored result when the text was scored before (no queue, no model: both times 0).
        var result: ModerationResult?
    }

    /// Looks the request's text up in `cache` (counting a hit or a miss) and, on a hit,
    /// composes its scored result with `thresholds` applied after the cache. The one place a
    /// cache hit becomes a result, for Kafka intake (`RequestPreparer`) and synchronous calls
    /// (`ModerationFrontDoor`) alike, so both answer a repeated text the same way.
    func cached(
        _ cache: ScoreCache?, requestID: String, request: ModerationRequest, source: KafkaConsumerMessage?,
        thresholds: CategoryThresholds
    ) -> CacheAnswer {
        guard let cache else { return CacheAnswer() }
        let key = cache.key(for: request.text)
        let result = cache.lookup(key).map { score in
            scored(
                requestID: requestID, request: request, source: source, score: score, operatorThresholds: thresholds,
                queueSeconds: 0, inferenceSeconds: 0)
        }
        return CacheAnswer(key: key, result: result)
    }
}
