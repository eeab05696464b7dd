import Foundation
import Inference
import Kafka
import ModerationProto

/// Builds results and the records that carry them: scores and verdicts from a
/// classification and thresholds, error results, and the result record's topic, key and
/// headers. Plain rules, no I/O.
public struct ResultComposer: Sendable {
    /// Where results go when the request names no allowed `reply-to`.
    let outputTopic: String
    /// Reported in every result.
    let workerID: String
    /// The model, as every result reports it.
    let model: ModerationProto.ModelIdentity
    /// Category display names in model order (the model's own list).
    let categoryNames: [String]
    /// Schema Registry framing and CloudEvent headers of results.
    let envelope: ResultEnvelopeOptions

    init(
        outputTopic: String, workerID: String, model: ModerationProto.ModelIdentity, categoryNames: [String],
        envelope: ResultEnvelopeOptions = ResultEnvelopeOptions()
    ) {
        self.outputTopic = outputTopic
        self.workerID = workerID
        self.model = model
        self.categoryNames = categoryNames
        self.envelope = envelope
    }

    /// How results report a loaded model.
    public static func identity(of model: DuoGuardModel) -> ModerationProto.ModelIdentity {
        var identity = ModerationProto.ModelIdentity()
        identity.name = model.identity.name
        identity.quantization = model.identity.quantization
        identity.fileSha256 = model.identity.contentHash
        return identity
    }

    /// The fields every result has: id, metadata, model, source (the Kafka record; none for a
    /// synchronous caller), worker.
    func base(requestID: String, request: ModerationRequest, source: KafkaConsumerMessage?) -> ModerationResult {
        var result = ModerationResult()
        result.requestID = requestID
        result.metadata = request.metadata
        result.model = model
        if let source {
            var origin = RequestSource()
            origin.topic = source.topic
            origin.partition = source.partition
            origin.offset = source.offset
            result.source = origin
        }
        result.workerID = workerID
        return result
    }

    /// A result that is only a status (INVALID_ARGUMENT, DEADLINE_EXCEEDED, PERMISSION_DENIED, ...).
    func status(
        _ code: ModerationStatus.Code, _ message: String, requestID: String, request: ModerationRequest,
        source: KafkaConsumerMessage?
    ) -> ModerationResult {
        var result = base(requestID: requestID, request: request, source: source)
        result.status.code = code
        result.status.message = message
        return result
    }

    /// The scored result of `item`: probabilities, per-category scores, verdict under the
    /// request's own threshold (when it has one) or the operator's per-category thresholds.
    func scored(
        _ item: WorkItem, classification: Classification, operatorThresholds: CategoryThresholds,
        queueSeconds: Double, inferenceSeconds: Double
    ) -> ModerationResult {
        scored(
            requestID: item.requestID, request: item.request, source: item.source,
            score: TextScore(classification, of: item.prepared), operatorThresholds: operatorThresholds,
            queueSeconds: queueSeconds, inferenceSeconds: inferenceSeconds)
    }

    /// The scored result of a request from any entry point (`source` nil for synchronous
    /// callers) from its text's score (computed, or from the score cache): thresholds are
    /// applied here, after the cache.
    func scored(
        requestID: String, request: ModerationRequest, source: KafkaConsumerMessage?, score: TextScore,
        operatorThresholds: CategoryThresholds, queueSeconds: Double, inferenceSeconds: Double
    ) -> ModerationResult {
        let classification = score.classification
        var result = base(requestID: requestID, request: request, source: source)
        result.queueMs = queueSeconds * 1000
        result.inferenceMs = inferenceSeconds * 1000
        let thresholds = request.hasThreshold ? CategoryThresholds(default: request.threshold) : operatorThresholds
        Self.fillScores(of: &result, score: score, thresholds: thresholds, categoryNames: categoryNames)
        return result
    }

    /// Sets the score fields of `result` (status OK, token count, truncation, windows,
    /// probabilities, per-category scores, threshold and verdict): the one place a result's
    /// scores are written, for Kafka results (computed or from the score cache) and for
    /// `duoguard classify --json` alike, so a text gets the same fields, names and numbers
    /// from both.
    public static func fillScores(
        of result: inout ModerationResult, score: TextScore, thresholds: CategoryThresholds, categoryNames: [String]
    ) {
        func name(of index: Int) -> String {
            categoryNames.indices.contains(index) ? categoryNames[index] : "label \(index)"
        }
        let classification = score.classification
        result.tokenCount = Int32(clamping: score.tokenCount)
        result.truncated = score.truncated
        result.windows = Int32(clamping: score.windows)
        result.status.code = .ok
        result.probabilities = classification.probabilities
        result.scores = classification.probabilities.enumerated().map { index, probability in
            var score = CategoryScore()
            score.category = ModerationCategory(modelIndex: index) ?? .unspecified
            score.name = name(of: index)
            score.probability = probability
            return score
        }
        result.maxProbability = classification.maxProbability
        result.threshold = thresholds.defaultValue
        result.categoryThresholds = thresholds.values
        let over = thresholds.flagged(classification.probabilities)
        result.unsafe = !over.isEmpty
        result.categories = over.compactMap { ModerationCategory(modelIndex: $0) }
        result.categoryNames = over.map(name(of:))
    }

    /// The record carrying `result`: the request's encoding and key, framed and with
    /// CloudEvent headers as configured, the request's trace context and correlation id
    /// copied, to `destination`.
    func record(
        _ result: ModerationResult, for source: KafkaConsumerMessage, contentType: ContentType, trace: TraceHeaders,
        destination: String, time: Date = Date()
    ) throws(ModerationEncodeError) -> KafkaProducerMessage {
        let sealed = ResultEnvelope.seal(
            try ModerationCodec.encodeResult(result, contentType: contentType), contentType: contentType,
            requestID: result.requestID, eventID: "\(source.topic)/\(source.partition)/\(source.offset)", trace: trace,
            options: envelope, time: time)
        var headers = sealed.headers
        if let correlation = source.headers.last(named: ModerationHeader.correlationID) {
            headers.append(correlation)
        }
        return KafkaProducerMessage(topic: destination, key: source.key, value: sealed.value, headers: headers)
    }
}
