import Foundation
import InMemoryTracing
import Inference
import Kafka
import ModerationProto
import Tracing
import XCTest

@testable import Worker

/// Issue 11 through the real broker: records framed by Confluent's serializers and wrapped by
/// the CloudEvents SDK (golden bytes from Tests/Fixtures/interop), bad framing and bad events
/// dead-lettered with their codes, framed CloudEvent results, and a trace that continues
/// through the worker with the right parentage.
final class WorkerInteropTests: XCTestCase {
    /// A golden record (Tests/Fixtures/interop/NAME.json) as a Kafka record.
    private func golden(_ name: String, topic: String, key: String) throws -> KafkaProducerMessage {
        let url = WorkerTestSupport.root.appendingPathComponent("Tests/Fixtures/interop/\(name).json")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let value = try XCTUnwrap(bytes(hex: object["value_hex"] as? String ?? ""))
        let headers = (object["headers"] as? [[String: Any]] ?? []).map { entry in
            KafkaHeader(
                key: entry["key"] as? String ?? "",
                value: (entry["value"] as? String).map { Array($0.utf8) } ?? (entry["value_hex"] as? String).flatMap(bytes(hex:)))
        }
        return KafkaProducerMessage(topic: topic, key: Array(key.utf8), value: value, headers: headers)
    }

    private func bytes(hex: String) -> [UInt8]? {
        var out: [UInt8] = []
        var digits = Substring(hex)
        while !digits.isEmpty {
            guard digits.count >= 2, let byte = UInt8(digits.prefix(2), radix: 16) else { return nil }
            out.append(byte)
            digits = digits.dropFirst(2)
        }
        return out
    }

    private func send(_ messages: [KafkaProducerMessage]) async throws {
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: WorkerTestSupport.client, linger: .zero), logger: WorkerTestSupport.logger)
        for message in messages { try await producer.send(message) }
        await producer.close()
    }

    func testFramedAndCloudEventRecordsAreAnsweredAndBadOnesDeadLettered() async throws {
        let model = try DuoGuardModel.load(path: try WorkerTestSupport.modelPath())
        let topics = try await WorkerTestSupport.makeTopics(partitions: 1)
        var configuration = WorkerTestSupport.configuration(topics, group: "g-\(UUID().uuidString.prefix(8))")
        configuration.envelope.allowedSchemaIDs = [12]
        configuration.resultEnvelope.schemaID = 13
        configuration.resultEnvelope.cloudEvents = CloudEventOutput(source: "/tests/worker")
        let worker = WorkerTestSupport.InProcessWorker(configuration: configuration, model: model)

        let request = try ModerationCodec.encodeRequest(WorkerTestSupport.request(id: "unlisted", text: "hi"), contentType: .protobuf)
        try await send([
            try golden("sr-protobuf-request", topic: topics.input, key: "sr-protobuf"),
            try golden("ce-binary-protobuf", topic: topics.input, key: "ce-binary-protobuf"),
            try golden("ce-binary-json", topic: topics.input, key: "ce-binary-json"),
            try golden("ce-structured-json", topic: topics.input, key: "ce-structured-json"),
            try golden("ce-structured-base64", topic: topics.input, key: "ce-structured-base64"),
            // Dead letters:
            try golden("sr-protobuf-wrong-message", topic: topics.input, key: "wrong-message"),
            KafkaProducerMessage(topic: topics.input, key: Array("unlisted-id".utf8), value: [0, 0, 0, 0, 99, 0] + request),
            KafkaProducerMessage(topic: topics.input, key: Array("truncated".utf8), value: [0, 0, 0]),
            KafkaProducerMessage(
                topic: topics.input, key: Array("old-spec".utf8), value: request,
                headers: [
                    KafkaHeader(key: "ce_specversion", string: "0.3"), KafkaHeader(key: "ce_id", string: "x"),
                    KafkaHeader(key: "ce_source", string: "/s"), KafkaHeader(key: "ce_type", string: "t"),
                ]),
            KafkaProducerMessage(
                topic: topics.input, key: Array("bad-event".utf8), value: Array("{\"specversion\":\"1.0\",\"id\":".utf8),
                headers: [KafkaHeader(key: "content-type", string: "application/cloudevents+json")]),
        ])

        let results = try await WorkerTestSupport.read(topics.output, count: 5)
        let dead = try await WorkerTestSupport.read(topics.deadLetters, count: 5)
        try await worker.stop()

        let goldenResult = try golden("sr-protobuf-result", topic: "x", key: "x").value ?? []
        var ids: [String: String] = [:]
        for record in results {
            let value = record.value ?? []
            let headers = record.headers
            let contentType = try ContentType.parse(headers.last(named: "content-type")?.stringValue)
            // Framed like Confluent's own serializers: magic 0, schema id 13, and for protobuf the
            // message index [1] (ModerationResult); JSON Schema framing has no index list.
            let (frame, start) = try SchemaRegistryFrame.parse(value, contentType: contentType)
            XCTAssertEqual(frame.schemaID, 13)
            if contentType == .protobuf {
                XCTAssertEqual(frame.messageIndexes, [1])
                XCTAssertEqual(Array(value.prefix(start)), Array(goldenResult.prefix(start)), "same frame bytes as Confluent's serializer")
            } else {
                XCTAssertNil(frame.messageIndexes)
                XCTAssertEqual(start, 5)
            }
            XCTAssertEqual(headers.last(named: "ce_specversion")?.stringValue, "1.0")
            XCTAssertEqual(headers.last(named: "ce_type")?.stringValue, CloudEventOutput.resultType)
            XCTAssertEqual(headers.last(named: "ce_source")?.stringValue, "/tests/worker")
            XCTAssertEqual(headers.last(named: "ce_id")?.stringValue, "\(topics.input)/0/\(record.offset)")
            let result = try ModerationCodec.decodeResult(Array(value[start...]), contentType: contentType)
            XCTAssertEqual(result.status.code, .ok)
            XCTAssertEqual(headers.last(named: "ce_subject")?.stringValue, result.requestID)
            ids[String(decoding: record.key ?? [], as: UTF8.self)] = result.requestID
        }
        XCTAssertEqual(ids["ce-binary-protobuf"], "req-7", "the payload's own id")
        XCTAssertEqual(ids["ce-binary-json"], try golden("ce-binary-json", topic: "x", key: "x").headers.last(named: "ce_id")?.stringValue,
            "a payload without id takes ce_id")
        XCTAssertEqual(Set(ids.keys), ["sr-protobuf", "ce-binary-protobuf", "ce-binary-json", "ce-structured-json", "ce-structured-base64"])

        let codes = Dictionary(dead.map { (String(decoding: $0.key ?? [], as: UTF8.self), $0.headers.last(named: "error-code")?.stringValue ?? "?") },
            uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(codes, [
            "wrong-message": "SCHEMA_MESSAGE_INDEX", "unlisted-id": "SCHEMA_ID_NOT_ALLOWED", "truncated": "SCHEMA_REGISTRY_FRAMING",
            "old-spec": "CLOUDEVENT_SPECVERSION", "bad-event": "CLOUDEVENT_MALFORMED",
        ])
    }

    func testJSONSchemaFramingWithADefaultContentType() async throws {
        let model = try DuoGuardModel.load(path: try WorkerTestSupport.modelPath())
        let topics = try await WorkerTestSupport.makeTopics(partitions: 1)
        var configuration = WorkerTestSupport.configuration(topics, group: "g-\(UUID().uuidString.prefix(8))")
        configuration.envelope.defaultContentType = .json  // Confluent's JSONSerializer sets no content-type
        let worker = WorkerTestSupport.InProcessWorker(configuration: configuration, model: model)
        try await send([try golden("sr-json-request", topic: topics.input, key: "sr-json")])
        let record = try await WorkerTestSupport.read(topics.output, count: 1)[0]
        try await worker.stop()
        XCTAssertEqual(record.headers.last(named: "content-type")?.stringValue, "application/json", "answered in the request's encoding")
        let result = try ModerationCodec.decodeResult(record.value ?? [], contentType: .json)
        XCTAssertEqual(result.status.code, .ok)
        XCTAssertFalse(result.requestID.isEmpty)
    }

    /// A producer's trace continues through the worker: the process span is the producer
    /// span's child, the send span the process span's child and is what the result carries;
    /// the inference span links to the process span; the W3C traceparent is copied too.
    func testTraceContinuesThroughTheWorker() async throws {
        let model = try DuoGuardModel.load(path: try WorkerTestSupport.modelPath())
        let topics = try await WorkerTestSupport.makeTopics(partitions: 1)
        let tracer = InMemoryTracer()
        var configuration = WorkerTestSupport.configuration(topics, group: "g-\(UUID().uuidString.prefix(8))")
        configuration.tracer = tracer
        let worker = WorkerTestSupport.InProcessWorker(configuration: configuration, model: model)

        let producerSpan = tracer.startSpan("send \(topics.input)", ofKind: .producer)
        var headers: [KafkaHeader] = [
            KafkaHeader(key: "traceparent", string: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            KafkaHeader(key: "tracestate", string: "vendor=value"),
        ]
        tracer.inject(producerSpan.context, into: &headers, using: KafkaHeaderCarrier())
        producerSpan.end()
        let value = try ModerationCodec.encodeRequest(WorkerTestSupport.request(id: "traced", text: "hello"), contentType: .protobuf)
        try await send([KafkaProducerMessage(topic: topics.input, key: Array("traced".utf8), value: value, headers: headers)])
        let result = try await WorkerTestSupport.read(topics.output, count: 1)[0]
        try await worker.stop()

        let spans = tracer.finishedSpans
        let producer = try XCTUnwrap(spans.first { $0.operationName == "send \(topics.input)" })
        let process = try XCTUnwrap(spans.first { $0.operationName == "process \(topics.input)" })
        let send = try XCTUnwrap(spans.first { $0.operationName == "send \(topics.output)" })
        let inference = try XCTUnwrap(spans.first { $0.operationName == "inference" })
        XCTAssertEqual(process.traceID, producer.traceID, "one trace from producer to result")
        XCTAssertEqual(process.parentSpanID, producer.spanID)
        XCTAssertEqual(process.kind, .consumer)
        XCTAssertEqual(send.parentSpanID, process.spanID)
        XCTAssertEqual(send.kind, .producer)
        XCTAssertEqual(send.traceID, producer.traceID)
        XCTAssertEqual(inference.links.compactMap { $0.context.inMemorySpanContext?.spanID }, [process.spanID])
        XCTAssertEqual(result.headers.last(named: InMemoryTracer.traceIDKey)?.stringValue, producer.traceID)
        XCTAssertEqual(result.headers.last(named: InMemoryTracer.spanIDKey)?.stringValue, send.spanID, "the result carries the send span")
        XCTAssertEqual(result.headers.last(named: "traceparent")?.stringValue, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        XCTAssertEqual(result.headers.last(named: "tracestate")?.stringValue, "vendor=value")
        XCTAssertEqual(process.attributes["messaging.system"]?.toSpanAttribute(), "kafka")
        XCTAssertEqual(process.attributes["messaging.destination.name"]?.toSpanAttribute(), .string(topics.input))
        XCTAssertEqual(process.attributes["messaging.consumer.group.name"]?.toSpanAttribute(), .string(configuration.groupID))
        XCTAssertEqual(process.attributes["messaging.destination.partition.id"]?.toSpanAttribute(), "0")
        XCTAssertEqual(process.attributes["messaging.kafka.offset"]?.toSpanAttribute(), 0)
        XCTAssertEqual(inference.attributes["duoguard.batch.requests"]?.toSpanAttribute(), 1)
    }
}
