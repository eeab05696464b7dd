import Foundation
import Inference
import Kafka
import ModerationProto
import XCTest

@testable import Worker

/// The worker's other plain rules, without a broker: results, dead letters, reply-to policy,
/// the byte budget, configuration checks, delivery backoff.
final class WorkerRulesTests: XCTestCase {
    private let source = KafkaConsumerMessage(
        topic: "requests", partition: 1, offset: 99, key: Array("key".utf8), value: Array(repeating: 7, count: 300),
        headers: [KafkaHeader(key: "correlation-id", string: "c-1"), KafkaHeader(key: "x-app", value: nil)])

    private func composer() -> ResultComposer {
        var model = ModerationProto.ModelIdentity()
        model.name = "m"
        model.quantization = "Q8_0"
        return ResultComposer(outputTopic: "results", workerID: "w", model: model, categoryNames: DuoGuardModel.categoryNames)
    }

    private func item(threshold: Float? = nil) -> WorkItem {
        var request = ModerationRequest()
        request.id = "r"
        request.text = "t"
        request.metadata = ["tenant": "acme"]
        if let threshold { request.threshold = threshold }
        return WorkItem(
            source: source, request: request, requestID: "r", contentType: .json, trace: TraceHeaders(), destination: "results",
            prepared: PreparedText(sequences: [[128000, 5, 6], [128000, 7]], truncated: false), deadline: nil, read: .now)
    }

    func testScoredResultUsesOperatorThresholdsOrTheRequestsOwn() throws {
        var logits = [Float](repeating: -4, count: 12)
        logits[8] = 0  // Hate: 0.5
        logits[2] = 1  // Sex-related crimes: 0.73
        let classification = Classification(logits: logits)
        var operatorThresholds = CategoryThresholds()
        try operatorThresholds.set("Hate", to: 0.4)
        let scored = composer().scored(
            item(), classification: classification, operatorThresholds: operatorThresholds, queueSeconds: 0.5, inferenceSeconds: 0.25)
        XCTAssertEqual(scored.status.code, .ok)
        XCTAssertEqual(scored.categoryNames, ["Sex-related crimes", "Hate"])
        XCTAssertEqual(scored.categories, [.sexRelatedCrimes, .hate])
        XCTAssertTrue(scored.unsafe)
        XCTAssertEqual(scored.scores.map(\.name), DuoGuardModel.categoryNames)
        XCTAssertEqual(scored.categoryThresholds[8], 0.4)
        XCTAssertEqual(scored.tokenCount, 5)
        XCTAssertEqual(scored.windows, 2)
        XCTAssertEqual(scored.queueMs, 500)
        XCTAssertEqual(scored.metadata, ["tenant": "acme"])
        XCTAssertEqual(scored.source.offset, 99)
        XCTAssertEqual(scored.model.quantization, "Q8_0")

        let strict = composer().scored(
            item(threshold: 0.9), classification: classification, operatorThresholds: operatorThresholds, queueSeconds: 0, inferenceSeconds: 0)
        XCTAssertFalse(strict.unsafe, "the request's own threshold replaces the operator's")
        XCTAssertEqual(strict.categoryThresholds, [Float](repeating: 0.9, count: 12))

        let record = try composer().record(scored, for: source, contentType: .json, trace: TraceHeaders(), destination: "results")
        XCTAssertEqual(record.key, Array("key".utf8))
        XCTAssertEqual(record.headers.last(named: "content-type")?.stringValue, "application/json")
        XCTAssertEqual(record.headers.last(named: "correlation-id")?.stringValue, "c-1")
        XCTAssertNil(record.headers.last(named: "x-app"), "only the correlation id is copied onto results")
        XCTAssertEqual(try ModerationCodec.decodeResult(record.value ?? [], contentType: .json), scored)
    }

    func testDeadLetterFormsShrink() {
        let letters = DeadLetterComposer(topic: "dead")
        let reason = DeadLetterReason.undeliverable(
            topic: String(repeating: "t", count: 3_000),
            error: KafkaError(kind: .message, code: 10, name: "MSG_SIZE_TOO_LARGE", message: "too large"))
        let whole = letters.compose(for: source, reason: reason)
        XCTAssertEqual(whole.value, source.value)
        XCTAssertEqual(whole.key, source.key)
        XCTAssertEqual(whole.headers.prefix(2).map(\.key), ["correlation-id", "x-app"], "original headers first")
        XCTAssertEqual(whole.headers.last(named: "error-code")?.stringValue, "UNDELIVERABLE")
        XCTAssertEqual(whole.headers.last(named: "source-topic")?.stringValue, "requests")
        XCTAssertEqual(whole.headers.last(named: "source-partition")?.stringValue, "1")
        XCTAssertLessThanOrEqual(whole.headers.last(named: "error-target-topic")?.value?.count ?? .max, DeadLetterComposer.maxHeaderText)
        XCTAssertNil(whole.headers.last(named: "dead-letter-omitted"))

        let withoutValue = letters.compose(for: source, reason: reason, form: .withoutValue)
        XCTAssertNil(withoutValue.value)
        XCTAssertEqual(withoutValue.key, source.key)
        XCTAssertEqual(withoutValue.headers.last(named: "dead-letter-omitted")?.stringValue, "value")

        let minimal = letters.compose(for: source, reason: reason, form: .coordinatesOnly)
        XCTAssertNil(minimal.value)
        XCTAssertNil(minimal.key)
        XCTAssertNil(minimal.headers.last(named: "correlation-id"))
        XCTAssertEqual(minimal.headers.last(named: "source-offset")?.stringValue, "99")
        XCTAssertEqual(minimal.headers.last(named: "dead-letter-omitted")?.stringValue, "key,value,headers")
        let size = minimal.headers.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.count ?? 0) }
        XCTAssertLessThan(size, 3_000, "the smallest form stays small whatever the request carried")
        XCTAssertEqual(DeadLetterComposer.Form.whole.smaller, .withoutValue)
        XCTAssertNil(DeadLetterComposer.Form.coordinatesOnly.smaller)
        XCTAssertEqual(DeadLetterComposer.clipped(String(repeating: "é", count: 2_000)).utf8.count <= DeadLetterComposer.maxHeaderText, true)
    }

    func testReplyToPolicy() throws {
        XCTAssertFalse(ReplyToPolicy.denyAll.allows("anything"))
        let policy = try ReplyToPolicy(allowing: "replies\\.(eu|us)")
        XCTAssertTrue(policy.allows("replies.eu"))
        XCTAssertFalse(policy.allows("replies.eu.secret"), "the whole name must match")
        XCTAssertFalse(policy.allows("xreplies.eu"))
        XCTAssertThrowsError(try ReplyToPolicy(allowing: "([")) { error in
            XCTAssertEqual((error as? ConfigurationError)?.setting, "--reply-to-allow")
        }
        XCTAssertNil(KafkaTopicName.problem(with: "a.b_c-D9"))
        XCTAssertNotNil(KafkaTopicName.problem(with: ""))
        XCTAssertNotNil(KafkaTopicName.problem(with: "."))
        XCTAssertNotNil(KafkaTopicName.problem(with: "a/b"))
        XCTAssertNotNil(KafkaTopicName.problem(with: "ü"))
        XCTAssertNotNil(KafkaTopicName.problem(with: String(repeating: "a", count: 250)))
        XCTAssertNil(KafkaTopicName.problem(with: String(repeating: "a", count: 249)))
    }

    func testEmptyHeadersAreNotFreeForTheBudget() {
        let headers = Array(repeating: KafkaHeader(key: "", value: nil), count: 10_000)
        let record = KafkaConsumerMessage(topic: "requests", partition: 0, offset: 0, key: nil, value: nil, headers: headers)
        XCTAssertEqual(record.byteSize, 0, "nothing on the wire but framing")
        XCTAssertGreaterThanOrEqual(record.bufferedSize, 10_000 * 32, "what the budget counts covers the header array")
    }

    func testInFlightBudgetWaitsForBytesAndLetsAnOversizedRecordThroughAlone() async {
        let budget = InFlightBudget(limit: 100)
        let first = await budget.acquire(60)
        let second = await budget.acquire(40)
        XCTAssertTrue(first && second)
        XCTAssertEqual(budget.used, 100)
        let waiter = Task { await budget.acquire(30) }
        try? await Task.sleep(for: .milliseconds(50))
        XCTAssertEqual(budget.used, 100, "the third waits: 130 > 100")
        budget.release(60)
        let third = await waiter.value
        XCTAssertTrue(third)
        XCTAssertEqual(budget.used, 70)
        budget.release(70)
        let oversized = await budget.acquire(500)
        XCTAssertTrue(oversized, "a record over the limit runs when nothing else is held")
        let blocked = Task { await budget.acquire(1) }
        try? await Task.sleep(for: .milliseconds(20))
        budget.close()
        let afterClose = await blocked.value
        XCTAssertFalse(afterClose, "close releases waiters with false")
        let later = await budget.acquire(1)
        XCTAssertFalse(later)
    }

    func testConfigurationValidationNamesTheSetting() {
        func setting(_ change: (inout WorkerConfiguration) -> Void, budget: Int = 2048) -> String? {
            var configuration = WorkerConfiguration(
                kafka: KafkaConfiguration(), groupID: "g", inputTopics: ["in"], outputTopic: "out", deadLetterTopic: "dlq")
            change(&configuration)
            do {
                try configuration.validate(batchTokenBudget: budget)
                return nil
            } catch {
                return error.setting
            }
        }
        XCTAssertNil(setting { _ in })
        XCTAssertEqual(setting { $0.maxBatch = 0 }, "--max-batch")
        XCTAssertEqual(setting { $0.metricsPort = 70_000 }, "--metrics-port")
        XCTAssertEqual(setting { $0.metricsPort = -1 }, "--metrics-port")
        XCTAssertNil(setting { $0.metricsPort = nil; $0.metricsHost = "" }, "no server: no host needed")
        XCTAssertEqual(setting { $0.scoring = TextScoring(maxTokens: 512, longText: .windows, windowOverlap: 511) }, "--window-overlap")
        XCTAssertEqual(setting { $0.scoring = TextScoring(maxTokens: 512, longText: .windows, windowOverlap: 400) }, "--window-overlap")
        XCTAssertNil(setting { $0.scoring = TextScoring(maxTokens: 512, longText: .windows, windowOverlap: 383) })
        XCTAssertEqual(setting { $0.scoring.windowOverlap = -1 }, "--window-overlap")
        XCTAssertEqual(setting { $0.scoring.maxTokens = 1 }, "--max-tokens")
        XCTAssertEqual(setting({ $0.scoring.maxTokens = 4_096 }, budget: 2048), "--max-tokens")
        XCTAssertEqual(setting { $0.outputTopic = "in" }, "--output-topic")
        XCTAssertEqual(setting { $0.deadLetterTopic = "in" }, "--dlq-topic")
        XCTAssertEqual(setting { $0.inputTopics = [] }, "--input-topic")
        XCTAssertEqual(setting { $0.queueCapacity = 0 }, "--queue-capacity")
        XCTAssertEqual(setting { $0.maxWait = .seconds(-1) }, "--max-wait-ms")
        XCTAssertEqual(setting { $0.maxInFlightBytes = 10 }, "--max-in-flight-bytes")
        XCTAssertEqual(setting { $0.sessionTimeout = .milliseconds(10) }, "--session-timeout-ms")
        XCTAssertEqual(setting { $0.fetchWait = .milliseconds(-1) }, "--fetch-wait-ms")
        XCTAssertEqual(setting { $0.fetchWait = .seconds(301) }, "--fetch-wait-ms")
        XCTAssertNil(setting { $0.fetchWait = .zero })
        XCTAssertEqual(setting { $0.drainTimeout = .seconds(100_000) }, "--drain-timeout-ms")
        XCTAssertThrowsError(try CategoryThresholds.checked(default: .nan))
        XCTAssertThrowsError(try CategoryThresholds.checked(default: 1.5))
        XCTAssertThrowsError(try ModelOptions(threads: 0).validate())
        XCTAssertThrowsError(try ModelOptions(batchTokenBudget: 0).validate())
        XCTAssertThrowsError(try ModelOptions(batchTokenBudget: 1 << 30).validate())
    }

    func testDeliveryBackoffDoublesAndIsCapped() {
        let cap = Duration.seconds(5)
        XCTAssertEqual(DeliveryDecision.backoff(afterAttempt: 1, max: cap), .milliseconds(10))
        XCTAssertEqual(DeliveryDecision.backoff(afterAttempt: 2, max: cap), .milliseconds(20))
        XCTAssertEqual(DeliveryDecision.backoff(afterAttempt: 5, max: cap), .milliseconds(160))
        XCTAssertEqual(DeliveryDecision.backoff(afterAttempt: 12, max: cap), cap)
        XCTAssertEqual(DeliveryDecision.backoff(afterAttempt: 10_000, max: cap), cap, "no overflow for long outages")
    }

    func testTextScoringIsOneRuleForClassifyAndWorker() {
        var windows = [Classification(logits: [0, 1]), Classification(logits: [2, -1])]
        let prepared = PreparedText(sequences: [[1], [2]], truncated: false)
        XCTAssertEqual(prepared.score(windows).logits, [2, 1], "per-category maximum over windows")
        windows = [Classification(logits: [0.5, 0.25])]
        XCTAssertEqual(PreparedText(sequences: [[1]], truncated: true).score(windows).logits, [0.5, 0.25])
    }

    func testTracerSeesOnlyValidTraceHeaders() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let keep = KafkaHeader(key: "x-app", string: "a")
        // Without trace headers the list passes through untouched.
        XCTAssertEqual(WorkerTracing.validatedTraceHeaders([keep]).map(\.key), ["x-app"])
        // An invalid traceparent (and the tracestate that rides on it) is dropped.
        let invalid = WorkerTracing.validatedTraceHeaders([
            keep, KafkaHeader(key: "traceparent", string: "00-zz-00f067aa0ba902b7-01"), KafkaHeader(key: "tracestate", string: "v=1"),
        ])
        XCTAssertEqual(invalid.map(\.key), ["x-app"])
        // A valid one is kept with its state.
        let kept = WorkerTracing.validatedTraceHeaders([KafkaHeader(key: "traceparent", string: valid), KafkaHeader(key: "tracestate", string: "v=1")])
        XCTAssertEqual(kept.last(named: "traceparent")?.stringValue, valid)
        XCTAssertEqual(kept.last(named: "tracestate")?.stringValue, "v=1")
        // A binary CloudEvent's ce_traceparent stands in when there is no traceparent.
        let cloudEvent = WorkerTracing.validatedTraceHeaders([KafkaHeader(key: "ce_traceparent", string: valid)])
        XCTAssertEqual(cloudEvent.last(named: "traceparent")?.stringValue, valid)
    }

    /// The envelope is opened once, at intake, and the process span starts from its trace
    /// context: a structured CloudEvent's `traceparent`/`tracestate` members (no trace
    /// headers on the record) now continue the producer's trace. Before, the span read the
    /// headers alone and started a new trace; only the result carried the event's context.
    func testProcessSpanStartsFromAStructuredCloudEventsTraceContext() throws {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let event = #"{"specversion":"1.0","id":"e-1","source":"s","type":"t","traceparent":"\#(valid)","tracestate":"v=1","#
            + #""datacontenttype":"application/json","data":{"text":"hi"}}"#
        let headers = [KafkaHeader(key: "content-type", string: "application/cloudevents+json"), KafkaHeader(key: "x-app", string: "a")]
        let envelope = try RequestEnvelope.open(value: Array(event.utf8), headers: headers)
        let carrier = WorkerTracing.carrier(headers, trace: envelope.trace)
        XCTAssertEqual(carrier.last(named: "traceparent")?.stringValue, valid)
        XCTAssertEqual(carrier.last(named: "tracestate")?.stringValue, "v=1")
        XCTAssertEqual(carrier.filter { $0.key == "x-app" }.count, 1, "other headers stay for tracers with their own keys")
        XCTAssertNil(WorkerTracing.validatedTraceHeaders(headers).last(named: "traceparent"), "the headers alone have none")
        // A traceparent header still wins over the event's member.
        let other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        let withHeader = headers + [KafkaHeader(key: "traceparent", string: other)]
        let headerWins = try RequestEnvelope.open(value: Array(event.utf8), headers: withHeader)
        XCTAssertEqual(WorkerTracing.carrier(withHeader, trace: headerWins.trace).last(named: "traceparent")?.stringValue, other)
        // An invalid header traceparent is dropped, not passed to the tracer.
        let invalid = [KafkaHeader(key: "traceparent", string: "00-zz-00f067aa0ba902b7-01")]
        XCTAssertNil(WorkerTracing.carrier(invalid, trace: TraceHeaders.extract(from: invalid)).last(named: "traceparent"))
    }

    func testCategoryThresholdFileIsReadWithinItsLimit() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("thresholds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func file(_ name: String, _ text: String) throws -> String {
            let url = directory.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            return url.path
        }
        var thresholds = CategoryThresholds()
        try thresholds.load(file: try file("ok", "# stricter\nPrivacy=0.3\n"))
        XCTAssertEqual(thresholds.values[DuoGuardModel.categoryNames.firstIndex(of: "Privacy")!], 0.3)
        try thresholds.load(file: try file("empty", ""))
        for path in [try file("big", String(repeating: "#", count: 65_537)), "/dev/zero", directory.path + "/missing"] {
            XCTAssertThrowsError(try thresholds.load(file: path), path) { error in
                XCTAssertEqual((error as? ConfigurationError)?.setting, "--category-thresholds")
            }
        }
    }

    // MARK: hardening round 2 (issue 21)

    private func baseConfiguration(inputs: [String] = ["requests"]) -> WorkerConfiguration {
        WorkerConfiguration(
            kafka: KafkaConfiguration(bootstrapServers: ["127.0.0.1:9092"]), groupID: "g", inputTopics: inputs, outputTopic: "results",
            deadLetterTopic: "dead")
    }

    /// Item 8: a passthrough property the guarantee rests on is a start-up error naming it.
    func testGuaranteePropertiesCannotBeOverridden() throws {
        for (property, value) in [
            ("enable.auto.offset.store", "true"), ("acks", "1"), ("enable.idempotence", "false"), ("enable.auto.commit", "false"),
            ("allow.auto.create.topics", "true"), ("auto.offset.reset", "latest"), ("request.required.acks", "0"),
        ] {
            var configuration = baseConfiguration()
            configuration.kafka.properties[property] = value
            XCTAssertThrowsError(try configuration.validate(batchTokenBudget: 4_096), property) { error in
                let error = error as? ConfigurationError
                XCTAssertEqual(error?.setting, "-X \(property)")
                XCTAssertTrue(error?.reason.contains(property) ?? false, "\(String(describing: error))")
            }
            // The Kafka layer refuses it too, for clients built without a WorkerConfiguration.
            let kafka = configuration.kafka
            let both: [() throws -> Void] = [
                { try KafkaConsumerConfiguration(client: kafka, groupID: "g").validate() },
                { try KafkaProducerConfiguration(client: kafka).validate() },
            ]
            XCTAssertTrue(both.contains { (try? $0()) == nil }, property)
        }
        var fine = baseConfiguration()
        fine.kafka.properties["security.protocol"] = "plaintext"
        XCTAssertNoThrow(try fine.validate(batchTokenBudget: 4_096))
        XCTAssertFalse(fine.producerConfiguration.allowsTopicCreation, "the worker's producer never creates topics")
        XCTAssertTrue(fine.producerConfiguration.idempotent)
    }

    /// Item 5: output and dead-letter topics matching an input subscription pattern are
    /// refused at start; so is a pattern the worker cannot check names against.
    func testOutputTopicsMatchingAnInputPatternAreRefused() {
        var configuration = baseConfiguration(inputs: ["^mod-.*"])
        XCTAssertNoThrow(try configuration.validate(batchTokenBudget: 4_096))
        configuration.outputTopic = "mod-results"
        XCTAssertThrowsError(try configuration.validate(batchTokenBudget: 4_096)) { error in
            XCTAssertEqual((error as? ConfigurationError)?.setting, "--output-topic")
        }
        configuration.outputTopic = "results"
        configuration.deadLetterTopic = "mod-dead"
        XCTAssertThrowsError(try configuration.validate(batchTokenBudget: 4_096)) { error in
            XCTAssertEqual((error as? ConfigurationError)?.setting, "--dlq-topic")
        }
        let lookaround = baseConfiguration(inputs: ["^(?=mod).*"])
        XCTAssertThrowsError(try lookaround.validate(batchTokenBudget: 4_096)) { error in
            XCTAssertEqual((error as? ConfigurationError)?.setting, "--input-topic")
        }
        XCTAssertThrowsError(try ReplyToPolicy(allowing: "(?=x)y")) { error in
            XCTAssertEqual((error as? ConfigurationError)?.setting, "--reply-to-allow")
        }
    }
}
