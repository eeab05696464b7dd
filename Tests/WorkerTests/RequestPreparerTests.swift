import Foundation
import Synchronization
import Inference
import Kafka
import ModerationProto
import Tokenizer
import XCTest

@testable import Worker

/// Intake's rules without a broker or a model run: every record either becomes a work item
/// or is answered at once, with the right status, destination and dead letter.
final class RequestPreparerTests: XCTestCase {
    static let tokenizer: Tokenizer? = {
        let path = WorkerTestSupport.root.appendingPathComponent("Tests/Fixtures/generated/llama3.2/tokenizer.json")
        return try? Tokenizer(contentsOf: path)
    }()

    private func preparer(
        replyTo: ReplyToPolicy = .denyAll, scoring: TextScoring = TextScoring(), maxRequestBytes: Int = 4_096, maxTextBytes: Int = 1_000,
        topics: ReplyTopicDirectory? = nil
    ) throws -> RequestPreparer {
        let tokenizer = try XCTUnwrap(Self.tokenizer, "run scripts/prepare-tokenizers.sh")
        var model = ModerationProto.ModelIdentity()
        model.name = "test-model"
        return RequestPreparer(
            maxRequestBytes: maxRequestBytes, maxTextBytes: maxTextBytes, replyTo: replyTo, envelope: EnvelopeOptions(), scoring: scoring,
            tokenizer: tokenizer,
            results: ResultComposer(outputTopic: "results", workerID: "w1", model: model, categoryNames: DuoGuardModel.categoryNames),
            deadLetters: DeadLetterComposer(topic: "dead"), topics: topics)
    }

    private func record(
        _ request: ModerationRequest, json: Bool = false, headers: [KafkaHeader] = [], offset: Int64 = 7
    ) throws -> KafkaConsumerMessage {
        var all = headers
        if json { all.append(KafkaHeader(key: "content-type", string: "application/json")) }
        return KafkaConsumerMessage(
            topic: "requests", partition: 2, offset: offset, key: Array("k".utf8),
            value: try ModerationCodec.encodeRequest(request, contentType: json ? .json : .protobuf), headers: all)
    }

    private func request(_ text: String, id: String = "r1", threshold: Float? = nil) -> ModerationRequest {
        var request = ModerationRequest()
        request.id = id
        request.text = text
        if let threshold { request.threshold = threshold }
        return request
    }

    private func answer(_ preparation: RequestPreparer.Preparation, file: StaticString = #filePath, line: UInt = #line) throws -> RequestPreparer.Answer {
        guard case .answered(let answer) = preparation else {
            XCTFail("expected an immediate answer", file: file, line: line)
            throw CancellationError()
        }
        return answer
    }

    private func result(of answer: RequestPreparer.Answer) throws -> (ModerationResult, KafkaProducerMessage)? {
        guard let outgoing = answer.outgoing.first(where: { $0.role == .result }) else { return nil }
        let contentType = try ContentType.parse(outgoing.message.headers.last(named: "content-type")?.stringValue)
        return (try ModerationCodec.decodeResult(outgoing.message.value ?? [], contentType: contentType), outgoing.message)
    }

    private func deadLetter(of answer: RequestPreparer.Answer) -> KafkaProducerMessage? {
        answer.outgoing.first { if case .deadLetter = $0.role { true } else { false } }?.message
    }

    func testValidRequestIsTokenizedForTheModel() async throws {
        let source = try record(request("Bonjour tout le monde"), headers: [KafkaHeader(key: "correlation-id", string: "c-9")])
        guard case .ready(let item) = try await preparer().prepare(source, read: .now, now: Date()) else { return XCTFail("expected ready") }
        XCTAssertEqual(item.requestID, "r1")
        XCTAssertEqual(item.destination, "results")
        XCTAssertEqual(item.contentType, .protobuf)
        XCTAssertEqual(item.prepared.sequences, [Self.tokenizer!.encode("Bonjour tout le monde").ids])
        XCTAssertNil(item.deadline)
    }

    func testOversizedRecordIsDeadLetteredUndecoded() async throws {
        let source = KafkaConsumerMessage(topic: "requests", partition: 0, offset: 1, value: [UInt8](repeating: 0xFF, count: 5_000))
        let answer = try answer(await preparer().prepare(source, read: .now, now: Date()))
        XCTAssertEqual(answer.deadLetter?.code, "REQUEST_TOO_LARGE")
        XCTAssertNil(try result(of: answer), "no result: the request was never decoded")
        let letter = try XCTUnwrap(deadLetter(of: answer))
        XCTAssertEqual(letter.topic, "dead")
        XCTAssertEqual(letter.value?.count, 5_000, "the whole record is in the dead letter")
        XCTAssertEqual(letter.headers.last(named: "source-offset")?.stringValue, "1")
    }

    func testUndecodableAndUnknownContentTypeAreDeadLettersOnly() async throws {
        let garbage = KafkaConsumerMessage(topic: "requests", partition: 0, offset: 1, value: [0x0A, 0xFF, 0xFF])
        let undecodable = try answer(await preparer().prepare(garbage, read: .now, now: Date()))
        XCTAssertEqual(undecodable.deadLetter?.code, "UNDECODABLE")
        let unknown = KafkaConsumerMessage(
            topic: "requests", partition: 0, offset: 2, value: Array("{}".utf8), headers: [KafkaHeader(key: "content-type", string: "text/xml")])
        let answer = try answer(await preparer().prepare(unknown, read: .now, now: Date()))
        XCTAssertEqual(answer.deadLetter?.code, "UNKNOWN_CONTENT_TYPE")
        XCTAssertEqual(answer.outgoing.count, 1)
    }

    func testInvalidRequestsGetInvalidArgumentAndADeadLetter() async throws {
        let cases: [(ModerationRequest, String)] = [
            (request(""), "MISSING_TEXT"),
            (request(String(repeating: "a", count: 1_001)), "TEXT_TOO_LONG"),
            (request("hi", threshold: .nan), "INVALID_THRESHOLD"),
            (request("hi", threshold: 0), "INVALID_THRESHOLD"),
            (request("hi", threshold: 1), "INVALID_THRESHOLD"),
            (request("hi", threshold: -0.5), "INVALID_THRESHOLD"),
            (request("hi", threshold: .infinity), "INVALID_THRESHOLD"),
        ]
        for (index, (bad, code)) in cases.enumerated() {
            let answer = try answer(await preparer().prepare(try record(bad, json: index.isMultiple(of: 2)), read: .now, now: Date()))
            XCTAssertEqual(answer.deadLetter?.code, code)
            XCTAssertEqual(answer.status, .invalidArgument)
            let (result, message) = try XCTUnwrap(try result(of: answer))
            XCTAssertEqual(result.status.code, .invalidArgument, code)
            XCTAssertEqual(result.requestID, "r1")
            XCTAssertEqual(message.topic, "results")
            XCTAssertEqual(message.key, Array("k".utf8))
        }
        guard case .ready = try await preparer().prepare(try record(request("hi", threshold: 0.3)), read: .now, now: Date()) else {
            return XCTFail("a threshold inside (0, 1) is valid")
        }
    }

    func testReplyToIsDeniedUnlessAllowed() async throws {
        let asking = try record(request("hi"), headers: [KafkaHeader(key: "reply-to", string: "payments")])
        let denied = try answer(await preparer().prepare(asking, read: .now, now: Date()))
        XCTAssertEqual(denied.deadLetter?.code, "REPLY_TO_DENIED")
        let (result, message) = try XCTUnwrap(try result(of: denied))
        XCTAssertEqual(result.status.code, .permissionDenied)
        XCTAssertEqual(message.topic, "results", "a refused reply-to is answered on the output topic")
        XCTAssertEqual(deadLetter(of: denied)?.headers.last(named: "error-target-topic")?.stringValue, "payments")

        let policy = try ReplyToPolicy(allowing: "replies-[a-z]+")
        let allowed = try record(request("hi"), headers: [KafkaHeader(key: "reply-to", string: "replies-team")])
        guard case .ready(let item) = try await preparer(replyTo: policy).prepare(allowed, read: .now, now: Date()) else {
            return XCTFail("an allowed reply-to is honoured")
        }
        XCTAssertEqual(item.destination, "replies-team")
        let partial = try record(request("hi"), headers: [KafkaHeader(key: "reply-to", string: "replies-team2")])
        let partialAnswer = try answer(await preparer(replyTo: policy).prepare(partial, read: .now, now: Date()))
        XCTAssertEqual(partialAnswer.deadLetter?.code, "REPLY_TO_DENIED")
        // The worker's own input and dead-letter topics stay refused under a pattern that matches them.
        let everything = try ReplyToPolicy(allowing: ".*").reserving(["requests", "dead"])
        for topic in ["requests", "dead"] {
            let loop = try record(request("hi"), headers: [KafkaHeader(key: "reply-to", string: topic)])
            let refused = try answer(await preparer(replyTo: everything).prepare(loop, read: .now, now: Date()))
            XCTAssertEqual(refused.deadLetter?.code, "REPLY_TO_DENIED", topic)
            XCTAssertEqual(try XCTUnwrap(try self.result(of: refused)).1.topic, "results", topic)
        }
        guard case .ready = try await preparer(replyTo: everything).prepare(allowed, read: .now, now: Date()) else {
            return XCTFail("other topics stay allowed")
        }
        let empty = try record(request("hi"), headers: [KafkaHeader(key: "reply-to", string: "")])
        guard case .ready(let plain) = try await preparer().prepare(empty, read: .now, now: Date()) else { return XCTFail("empty reply-to = none") }
        XCTAssertEqual(plain.destination, "results")
    }

    func testInvalidReplyToTopicNamesAreTheRequestersError() async throws {
        let anything = try ReplyToPolicy(allowing: ".*")
        for bad: [UInt8] in [Array("bad topic!".utf8), Array(String(repeating: "x", count: 250).utf8), Array("..".utf8), [0xC3, 0x28]] {
            let source = try record(request("hi"), headers: [KafkaHeader(key: "reply-to", value: bad)])
            let answer = try answer(await preparer(replyTo: anything).prepare(source, read: .now, now: Date()))
            XCTAssertEqual(answer.deadLetter?.code, "REPLY_TO_INVALID")
            XCTAssertEqual(try result(of: answer)?.0.status.code, .invalidArgument)
            XCTAssertEqual(try result(of: answer)?.1.topic, "results")
        }
    }

    func testDeadlines() async throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let past = try record(request("hi"), headers: [KafkaHeader(key: "deadline", string: "\(Int64(now.timeIntervalSince1970 * 1000) - 1)")])
        let expired = try answer(await preparer().prepare(past, read: .now, now: now))
        XCTAssertNil(expired.deadLetter, "a missed deadline is an answer, not poison")
        XCTAssertEqual(try result(of: expired)?.0.status.code, .deadlineExceeded)

        let future = try record(request("hi"), headers: [KafkaHeader(key: "deadline", string: "2030-01-01T00:00:00Z")])
        guard case .ready(let item) = try await preparer().prepare(future, read: .now, now: now) else { return XCTFail("in time") }
        XCTAssertEqual(item.deadline, ISO8601DateFormatter().date(from: "2030-01-01T00:00:00Z"))
        // Expired while queued: answered without the model.
        let late = try preparer().expired(item, now: Date(timeIntervalSince1970: 1_900_000_000))
        XCTAssertEqual(try result(of: late)?.0.status.code, .deadlineExceeded)

        let unreadable = try record(request("hi"), headers: [KafkaHeader(key: "deadline", string: "soon")])
        guard case .ready(let advice) = try await preparer().prepare(unreadable, read: .now, now: now) else {
            return XCTFail("an unreadable deadline is ignored (a deadline is advice)")
        }
        XCTAssertNil(advice.deadline)
    }

    func testWindowsModeGivesOneSequencePerWindow() async throws {
        let text = (0..<40).map { "word\($0)" }.joined(separator: " ")
        let scoring = TextScoring(maxTokens: 16, longText: .windows, windowOverlap: 4)
        guard case .ready(let item) = try await preparer(scoring: scoring).prepare(try record(request(text)), read: .now, now: Date()) else {
            return XCTFail("expected ready")
        }
        XCTAssertEqual(item.prepared.sequences, Self.tokenizer!.windows(text, maxTokens: 16, overlap: 4).map(\.ids))
        XCTAssertGreaterThan(item.prepared.sequences.count, 2)
        XCTAssertFalse(item.prepared.truncated)
        let truncated = TextScoring(maxTokens: 16)
        guard case .ready(let cut) = try await preparer(scoring: truncated).prepare(try record(request(text)), read: .now, now: Date()) else {
            return XCTFail("expected ready")
        }
        XCTAssertEqual(cut.prepared.sequences.map(\.count), [16])
        XCTAssertTrue(cut.prepared.truncated)
    }

    func testMissingIDFallsBackToCoordinates() async throws {
        let source = try record(request("", id: ""), offset: 42)
        let answer = try answer(await preparer().prepare(source, read: .now, now: Date()))
        XCTAssertEqual(try result(of: answer)?.0.requestID, "requests/2/42")
    }

    // MARK: hardening round 2 (issue 21)

    /// Item 3: a backtracking-prone allow pattern on a hostile name answers at once (the old
    /// `Regex` did not finish matching sixty `r`s and a dot).
    func testBacktrackingPatternAnswersAtOnce() async throws {
        let policy = try ReplyToPolicy(allowing: "(r[a-z]+)+-out")
        let hostile = String(repeating: "r", count: 60) + "."
        let source = try record(request("hi"), headers: [KafkaHeader(key: "reply-to", string: hostile)])
        let prepared = try preparer(replyTo: policy)  // loads the tokenizer first: not part of the match
        let start = ContinuousClock.now
        let answer = try answer(await prepared.prepare(source, read: .now, now: Date()))
        XCTAssertEqual(answer.deadLetter?.code, "REPLY_TO_DENIED")
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(500))
        let fine = try record(request("hi"), headers: [KafkaHeader(key: "reply-to", string: "rab-out")])
        guard case .ready(let item) = try await preparer(replyTo: policy).prepare(fine, read: .now, now: Date()) else {
            return XCTFail("a matching name is honoured")
        }
        XCTAssertEqual(item.destination, "rab-out")
    }

    /// Item 5: a topic of a `^pattern` input subscription is reserved like a literal input.
    func testSubscriptionPatternTopicsAreReserved() async throws {
        let policy = try ReplyToPolicy(allowing: ".*").reserving(["^mod-.*", "dead"])
        for topic in ["mod-a", "mod-requests-2"] {
            let source = try record(request("hi"), headers: [KafkaHeader(key: "reply-to", string: topic)])
            let answer = try answer(await preparer(replyTo: policy).prepare(source, read: .now, now: Date()))
            XCTAssertEqual(answer.deadLetter?.code, "REPLY_TO_DENIED", topic)
            XCTAssertEqual(try XCTUnwrap(try result(of: answer)).0.status.code, .permissionDenied)
        }
        XCTAssertTrue(policy.allows("replies-mod-a"), "anchored at the start, like librdkafka's subscription")
        XCTAssertFalse(ReplyToPolicy.denyAll.allows("x"))
    }

    /// Item 2: an allowed `reply-to` naming a topic the cluster does not have is answered
    /// NOT_FOUND on the output topic and dead-lettered; the listing is rate-limited.
    func testMissingReplyToTopicIsNotFound() async throws {
        let policy = try ReplyToPolicy(allowing: "replies-.*")
        let listings = Mutex(0)
        let directory = ReplyTopicDirectory(relevant: { policy.allows($0) }) {
            listings.withLock { $0 += 1 }
            return ["replies-a": 1, "other": 3]
        }
        let prepared = try preparer(replyTo: policy, topics: directory)
        for n in 0..<100 {
            let source = try record(request("hi"), headers: [KafkaHeader(key: "reply-to", string: "replies-\(n)")], offset: Int64(n))
            let answer = try answer(await prepared.prepare(source, read: .now, now: Date()))
            XCTAssertEqual(answer.deadLetter?.code, "REPLY_TO_NOT_FOUND")
            let (result, message) = try XCTUnwrap(try result(of: answer))
            XCTAssertEqual(result.status.code, .notFound)
            XCTAssertEqual(message.topic, "results")
        }
        XCTAssertLessThanOrEqual(listings.withLock { $0 }, 2, "100 misses within a second: one listing, not 100")
        let existing = try record(request("hi"), headers: [KafkaHeader(key: "reply-to", string: "replies-a")])
        guard case .ready(let item) = try await prepared.prepare(existing, read: .now, now: Date()) else { return XCTFail("exists") }
        XCTAssertEqual(item.destination, "replies-a")
        let other = await directory.exists("other")
        XCTAssertEqual(other, false, "only names the policy allows are kept")
    }

    /// Item 4: metadata beyond its limits is INVALID_ARGUMENT (METADATA_TOO_LARGE), whatever
    /// the encoding; within them it is copied to the result.
    func testMetadataIsBounded() async throws {
        var many = request("hi")
        many.metadata = Dictionary(uniqueKeysWithValues: (0..<75_000).map { ("k\($0)", "v") })
        var longValue = request("hi")
        longValue.metadata = ["k": String(repeating: "v", count: 5_000)]
        var longKey = request("hi")
        longKey.metadata = [String(repeating: "k", count: 300): "v"]
        for (index, bad) in [many, longValue, longKey].enumerated() {
            let source = try record(bad, json: index == 1)
            let answer = try answer(await preparer(maxRequestBytes: 2_000_000).prepare(source, read: .now, now: Date()))
            XCTAssertEqual(answer.deadLetter?.code, "METADATA_TOO_LARGE", "\(index)")
            let result = try XCTUnwrap(try result(of: answer)).0
            XCTAssertEqual(result.status.code, .invalidArgument)
            XCTAssertTrue(result.metadata.isEmpty, "oversize metadata is not copied into the error result")
        }
        var fine = request("hi")
        fine.metadata = Dictionary(uniqueKeysWithValues: (0..<64).map { ("k\($0)", "v") })
        guard case .ready(let item) = try await preparer().prepare(try record(fine), read: .now, now: Date()) else { return XCTFail("within limits") }
        XCTAssertEqual(item.request.metadata.count, 64)
    }

    /// Item 10: in window mode a text over `--max-windows` is INVALID_ARGUMENT (TOO_MANY_WINDOWS).
    func testWindowCap() async throws {
        var scoring = TextScoring(maxTokens: 16, longText: .windows, windowOverlap: 2)
        scoring.maxWindows = 3
        let text = String(repeating: "word ", count: 200)
        let answer = try answer(await preparer(scoring: scoring, maxTextBytes: 10_000).prepare(try record(request(text)), read: .now, now: Date()))
        XCTAssertEqual(answer.deadLetter?.code, "TOO_MANY_WINDOWS")
        XCTAssertEqual(try XCTUnwrap(try result(of: answer)).0.status.code, .invalidArgument)
        scoring.maxWindows = 1_000
        guard case .ready = try await preparer(scoring: scoring, maxTextBytes: 10_000).prepare(try record(request(text)), read: .now, now: Date()) else {
            return XCTFail("within the cap")
        }
    }

    /// Item 11: records librdkafka skipped (a batch it could not decompress) arrive as a
    /// stand-in message and are dead-lettered with their coordinates, never passed over.
    func testUnreadableRecordsAreDeadLetteredWithTheirCoordinates() async throws {
        var standIn = KafkaConsumerMessage(topic: "requests", partition: 3, offset: 41)
        standIn.unreadable = .init(code: "_BAD_COMPRESSION", message: "Decompression (codec 0x7) of message at 41 of 120 bytes failed")
        let answer = try answer(await preparer().prepare(standIn, read: .now, now: Date()))
        XCTAssertEqual(answer.deadLetter?.code, "UNREADABLE_RECORD")
        XCTAssertNil(try result(of: answer), "no request id to answer: a dead letter only")
        let letter = try XCTUnwrap(deadLetter(of: answer))
        XCTAssertEqual(letter.topic, "dead")
        XCTAssertEqual(letter.headers.last(named: "source-offset")?.stringValue, "41")
        XCTAssertEqual(letter.headers.last(named: "source-partition")?.stringValue, "3")
        XCTAssertTrue(letter.headers.last(named: "error-message")?.stringValue?.contains("_BAD_COMPRESSION") ?? false)
    }
}
