import Foundation
import Inference
import Kafka
import ModerationProto
import Tokenizer

/// Intake's rules, as a plain function of a record: size, content type, decoding, where the
/// result may go, validation, deadline, tokenization. A record either becomes a `WorkItem`
/// for the model, or is answered at once (an error result and/or a dead letter).
///
/// No clock of its own (`now` is given) and no I/O but the `reply-to` topic lookup (a cache
/// that lists the cluster's topics at most once a second), so every rule is unit-tested
/// without a broker or a model run.
struct RequestPreparer: Sendable {
    /// Largest record (key + value + headers) decoded; larger ones are dead-lettered unread.
    let maxRequestBytes: Int
    /// Largest text (UTF-8 bytes) accepted.
    let maxTextBytes: Int
    let replyTo: ReplyToPolicy
    /// Schema Registry framing, CloudEvents, default content type.
    let envelope: EnvelopeOptions
    let scoring: TextScoring
    let tokenizer: Tokenizer
    let results: ResultComposer
    let deadLetters: DeadLetterComposer
    /// Which `reply-to` topics exist; `nil`: not checked (unit tests without a cluster).
    var topics: ReplyTopicDirectory? = nil
    /// Bounds of `metadata` (entries, key/value/total bytes).
    var metadataLimits = MetadataLimits()
    /// Scores of texts seen before (`--score-cache-bytes`); `nil`: off.
    var scoreCache: ScoreCache? = nil
    /// The operator's thresholds, applied to cached scores (the inference loop applies the
    /// same to computed ones).
    var thresholds = CategoryThresholds()

    /// What intake does with a record.
    enum Preparation: Sendable {
        /// Queue it for the model.
        case ready(WorkItem)
        /// Answer it without the model.
        case answered(Answer)
    }

    /// The records answering a request without the model.
    struct Answer: Sendable {
        /// Result and/or dead letter, in the order they are produced.
        var outgoing: [Outgoing]
        /// The status of the result (or what it would have been when none could be sent).
        var status: ModerationStatus.Code
        /// Why it was dead-lettered, when it was.
        var deadLetter: DeadLetterReason?
    }

    /// The record's envelope (content type, framing, CloudEvent, trace context), opened once at
    /// intake: the process span starts from its trace context (which honours a structured
    /// CloudEvent's), and `prepare` takes it as it is. nil for a record dead-lettered before
    /// its envelope is read (unreadable, or over `maxRequestBytes`).
    func openEnvelope(_ source: KafkaConsumerMessage) -> Result<RequestEnvelope, ModerationDecodeError>? {
        guard source.unreadable == nil, source.byteSize <= maxRequestBytes else { return nil }
        return open(source)
    }

    private func open(_ source: KafkaConsumerMessage) -> Result<RequestEnvelope, ModerationDecodeError> {
        do {
            return .success(try RequestEnvelope.open(value: source.value, headers: source.headers, options: envelope))
        } catch {
            return .failure(error)
        }
    }

    /// `opened`: the envelope from `openEnvelope` (intake passes it, so the record is opened
    /// once); nil opens it here.
    func prepare(
        _ source: KafkaConsumerMessage, opened openedEnvelope: Result<RequestEnvelope, ModerationDecodeError>? = nil,
        read: ContinuousClock.Instant, now: Date
    ) async -> Preparation {
        if let unreadable = source.unreadable {
            return .answered(deadLetterOnly(source, .unreadableRecord(unreadable)))
        }
        let size = source.byteSize
        guard size <= maxRequestBytes else {
            return .answered(deadLetterOnly(source, .requestTooLarge(bytes: size, limit: maxRequestBytes)))
        }
        let opened: RequestEnvelope
        var request: ModerationRequest
        do {
            opened = try (openedEnvelope ?? open(source)).get()
            request = try opened.decodeRequest()
        } catch {
            return .answered(deadLetterOnly(source, .invalid(error)))
        }
        let contentType = opened.contentType
        let trace = opened.trace
        let requestID = ModerationCodec.requestID(of: request, topic: source.topic, partition: source.partition, offset: source.offset)
        func reject(_ code: ModerationStatus.Code, _ reason: DeadLetterReason, to destination: String) -> Preparation {
            let result = results.status(code, reason.message, requestID: requestID, request: request, source: source)
            return .answered(answer(result, to: destination, source: source, contentType: contentType, trace: trace, deadLetter: reason))
        }

        var destination = results.outputTopic
        if let header = source.headers.last(named: ModerationHeader.replyTo)?.value, !header.isEmpty {
            guard let topic = String(validating: header, as: UTF8.self) else {
                return reject(.invalidArgument, .replyToInvalid("<\(header.count) bytes>", "not UTF-8"), to: results.outputTopic)
            }
            // Kafka's own naming rule, checked here so a bad name is the requester's error,
            // not a broker round trip.
            if let why = KafkaTopicName.problem(with: topic) {
                return reject(.invalidArgument, .replyToInvalid(topic, why), to: results.outputTopic)
            }
            guard replyTo.allows(topic) else {
                return reject(.permissionDenied, .replyToDenied(topic), to: results.outputTopic)
            }
            // Only to topics that exist: producing to an unknown name could create it.
            if let topics, await topics.exists(topic) == false {
                return reject(.notFound, .replyToMissing(topic), to: results.outputTopic)
            }
            destination = topic
        }
        do {
            try ModerationCodec.validate(request, maxTextBytes: maxTextBytes, metadata: metadataLimits)
        } catch {
            // Metadata over its bounds is not copied into the error result (it could make the
            // result itself too large to deliver).
            if case .metadataTooLarge = error { request.metadata = [:] }
            return reject(.invalidArgument, .invalid(error), to: destination)
        }
        let deadline = source.headers.last(named: ModerationHeader.deadline)?.stringValue.flatMap(DeadlineHeader.parse)
        if let deadline, deadline < now {
            let result = results.status(
                .deadlineExceeded, "deadline \(deadline) passed before the request was dequeued",
                requestID: requestID, request: request, source: source)
            return .answered(answer(result, to: destination, source: source, contentType: contentType, trace: trace, deadLetter: nil))
        }
        // A text scored before is answered now: no tokenizing, no model, no queue.
        let cached = results.cached(scoreCache, requestID: requestID, request: request, source: source, thresholds: thresholds)
        if let result = cached.result {
            return .answered(answer(result, to: destination, source: source, contentType: contentType, trace: trace, deadLetter: nil))
        }
        let cacheKey = cached.key
        let prepared = scoring.prepare(request.text, tokenizer: tokenizer)
        if scoring.longText == .windows, prepared.sequences.count > scoring.maxWindows {
            return reject(.invalidArgument, .tooManyWindows(prepared.sequences.count, limit: scoring.maxWindows), to: destination)
        }
        return .ready(
            WorkItem(
                source: source, request: request, requestID: requestID, contentType: contentType, trace: trace,
                destination: destination, prepared: prepared, deadline: deadline, read: read, cacheKey: cacheKey))
    }

    /// The answer of a request that expired while it waited for the model.
    func expired(_ item: WorkItem, now: Date) -> Answer {
        let result = results.status(
            .deadlineExceeded, "deadline \(item.deadline.map { "\($0)" } ?? "?") passed while the request was queued (now \(now))",
            requestID: item.requestID, request: item.request, source: item.source)
        return answer(result, to: item.destination, source: item.source, contentType: item.contentType, trace: item.trace, deadLetter: nil)
    }

    /// A result record plus, when `deadLetter` is set, a dead letter; a result that cannot be
    /// encoded becomes a dead letter itself, so no request goes unanswered.
    func answer(
        _ result: ModerationResult, to destination: String, source: KafkaConsumerMessage, contentType: ContentType,
        trace: TraceHeaders, deadLetter: DeadLetterReason?
    ) -> Answer {
        var outgoing: [Outgoing] = []
        var reason = deadLetter
        do {
            let record = try results.record(result, for: source, contentType: contentType, trace: trace, destination: destination)
            outgoing.append(Outgoing(role: .result, message: record))
        } catch {
            reason = reason ?? .resultUnencodable("\(error)")
        }
        if let reason {
            outgoing.append(Outgoing(role: .deadLetter(reason, .whole), message: deadLetters.compose(for: source, reason: reason)))
        }
        return Answer(outgoing: outgoing, status: result.status.code, deadLetter: reason)
    }

    private func deadLetterOnly(_ source: KafkaConsumerMessage, _ reason: DeadLetterReason) -> Answer {
        Answer(
            outgoing: [Outgoing(role: .deadLetter(reason, .whole), message: deadLetters.compose(for: source, reason: reason))],
            status: .invalidArgument, deadLetter: reason)
    }
}

extension RequestPreparer {
    /// The worker's preparer: its configuration's rules, the model's tokenizer and labels.
    init(
        configuration: WorkerConfiguration, model: DuoGuardModel, deadLetters: DeadLetterComposer, topics: ReplyTopicDirectory?,
        scoreCache: ScoreCache? = nil
    ) {
        self.init(
            maxRequestBytes: configuration.maxRequestBytes, maxTextBytes: configuration.maxTextBytes,
            replyTo: configuration.replyTo.reserving(configuration.inputTopics + [configuration.deadLetterTopic]),
            envelope: configuration.envelope, scoring: configuration.scoring, tokenizer: model.tokenizer,
            results: ResultComposer(
                outputTopic: configuration.outputTopic, workerID: configuration.workerID, model: ResultComposer.identity(of: model),
                categoryNames: model.config.categoryNames, envelope: configuration.resultEnvelope),
            deadLetters: deadLetters, topics: topics, metadataLimits: configuration.metadataLimits,
            scoreCache: scoreCache, thresholds: configuration.thresholds)
    }
}

extension KafkaConsumerMessage {
    /// Bytes of key, value and headers: what the record costs in memory, and what a dead
    /// letter carrying it costs on the wire.
    var byteSize: Int {
        (key?.count ?? 0) + (value?.count ?? 0) + headers.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.count ?? 0) }
    }
}
