import Foundation
import HTTPServer
import ModerationProto

/// The HTTP API of synchronous callers, answered through ``ModerationFrontDoor``:
///
/// - `POST /v1/moderations`: OpenAI's moderation request (`input`: a string or an array of
///   strings, `model` ignored but echoed) and response (`id`, `model`, `results[]` with
///   `flagged`, `categories`, `category_scores`; names: ``OpenAICategoryMap``), so OpenAI
///   clients work by changing the base URL. Extension: `threshold` (0 < t < 1), as in
///   `ModerationRequest`. Errors in OpenAI's shape (`{"error": {"message", "type", "code"}}`).
/// - `POST /v1/classify`: a `ModerationRequest` in the proto3 JSON mapping, answered with the
///   `ModerationResult` (also JSON), exactly what the Kafka path would produce.
///
/// Both take the `deadline` header of the Kafka path (RFC 3339 or epoch milliseconds). With
/// an API key, both want `Authorization: Bearer <key>` (`401` otherwise); health and metrics
/// routes stay open. Status → HTTP: OK 200, INVALID_ARGUMENT 400, DEADLINE_EXCEEDED 504,
/// RESOURCE_EXHAUSTED 429 (with `Retry-After: 1`), UNAVAILABLE 503, INTERNAL 500. No request
/// text is ever logged.
public final class ModerationAPIRoutes: Sendable {
    /// Most texts in one OpenAI `input` array (each is admitted on its own).
    public static let maxInputs = 32

    private let frontDoor: ModerationFrontDoor
    private let apiKey: [UInt8]?

    /// - Parameter apiKey: the bearer token callers must present; nil: no authentication.
    public init(frontDoor: ModerationFrontDoor, apiKey: String?) {
        self.frontDoor = frontDoor
        self.apiKey = apiKey.map { Array($0.utf8) }
    }

    public func respond(to request: HealthServer.PostRequest) async -> HealthServer.Response {
        switch request.path {
        case "/v1/moderations", "/v1/classify":
            break
        default:
            return .init(status: 404, body: "not found\n")
        }
        if let apiKey, !Self.authorized(request.header("authorization"), key: apiKey) {
            return Self.openAIError(401, "a valid API key is required (Authorization: Bearer <key>)", code: "UNAUTHENTICATED", headers: [
                ("WWW-Authenticate", "Bearer")
            ])
        }
        let deadline = request.header(ModerationHeader.deadline).flatMap(DeadlineHeader.parse)
        if request.path == "/v1/classify" { return await classify(request, deadline: deadline) }
        return await moderations(request, deadline: deadline)
    }

    // MARK: Native

    private func classify(_ request: HealthServer.PostRequest, deadline: Date?) async -> HealthServer.Response {
        let decoded: ModerationRequest
        do {
            guard try ContentType.parse(request.header("content-type"), default: .json) == .json else {
                return .init(status: 415, body: "use application/json (protobuf: the gRPC service)\n")
            }
            decoded = try ModerationCodec.decodeRequest(request.body, contentType: .json)
        } catch {
            return .init(status: 400, contentType: "application/json", body: Self.jsonError(error.description))
        }
        let result = await frontDoor.classify(decoded, deadline: deadline, entry: "http")
        guard let body = try? ModerationCodec.encodeResult(result, contentType: .json) else {
            return .init(status: 500, body: "result not encodable\n")
        }
        return .init(
            status: Self.httpStatus(result.status.code), contentType: "application/json", body: String(decoding: body, as: UTF8.self),
            headers: result.status.code == .resourceExhausted ? [("Retry-After", "1")] : [])
    }

    // MARK: OpenAI

    private struct OpenAIRequest: Decodable {
        enum Input: Decodable {
            case one(String)
            case many([String])

            init(from decoder: Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let text = try? container.decode(String.self) {
                    self = .one(text)
                } else {
                    self = .many(try container.decode([String].self))
                }
            }
        }

        var input: Input
        var model: String?
        var threshold: Float?
    }

    private struct OpenAIResult: Encodable {
        var flagged: Bool
        var categories: [String: Bool]
        var category_scores: [String: Float]
    }

    private struct OpenAIResponse: Encodable {
        var id: String
        var model: String
        var results: [OpenAIResult]
    }

    private func moderations(_ request: HealthServer.PostRequest, deadline: Date?) async -> HealthServer.Response {
        let parsed: OpenAIRequest
        do {
            parsed = try JSONDecoder().decode(OpenAIRequest.self, from: Data(request.body))
        } catch {
            return Self.openAIError(400, "the body is not a moderation request: {\"input\": string or array of strings}", code: "INVALID_ARGUMENT")
        }
        let texts: [String]
        switch parsed.input {
        case .one(let text): texts = [text]
        case .many(let many): texts = many
        }
        guard !texts.isEmpty, texts.count <= Self.maxInputs else {
            return Self.openAIError(400, "input must hold 1 to \(Self.maxInputs) texts (got \(texts.count))", code: "INVALID_ARGUMENT")
        }
        let requests = texts.map { text in
            var request = ModerationRequest()
            request.text = text
            if let threshold = parsed.threshold { request.threshold = threshold }
            return request
        }
        let results = await withTaskGroup(of: (Int, ModerationResult).self) { group in
            for (index, request) in requests.enumerated() {
                group.addTask { (index, await self.frontDoor.classify(request, deadline: deadline, entry: "http")) }
            }
            var results = [ModerationResult?](repeating: nil, count: requests.count)
            for await (index, result) in group { results[index] = result }
            return results.compactMap { $0 }
        }
        if let failed = results.first(where: { $0.status.code != .ok }) {
            let position = texts.count > 1 ? " (input \(results.firstIndex(of: failed) ?? 0))" : ""
            return Self.openAIError(
                Self.httpStatus(failed.status.code), failed.status.message + position, code: ModerationFrontDoor.name(of: failed.status.code),
                headers: failed.status.code == .resourceExhausted ? [("Retry-After", "1")] : [])
        }
        let names = frontDoor.categoryNames
        let response = OpenAIResponse(
            id: "modr-\(UUID().uuidString.lowercased())", model: parsed.model ?? frontDoor.model.name,
            results: results.map { result in
                let flagged = Set(result.categories.compactMap { $0.rawValue >= 1 ? $0.rawValue - 1 : nil })
                let (categories, scores) = OpenAICategoryMap.entries(names: names, probabilities: result.probabilities, flagged: flagged)
                return OpenAIResult(flagged: result.unsafe, categories: categories, category_scores: scores)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let body = try? encoder.encode(response) else { return .init(status: 500, body: "result not encodable\n") }
        return .init(status: 200, contentType: "application/json", body: String(decoding: body, as: UTF8.self))
    }

    // MARK: Helpers

    static func httpStatus(_ code: ModerationStatus.Code) -> Int {
        switch code {
        case .ok: 200
        case .invalidArgument: 400
        case .deadlineExceeded: 504
        case .resourceExhausted: 429
        case .unavailable: 503
        case .unauthenticated: 401
        default: 500
        }
    }

    /// Compares the presented bearer token with the key in time independent of where they differ.
    static func authorized(_ header: String?, key: [UInt8]) -> Bool {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return false }
        let presented = Array(header.dropFirst(7).utf8)
        var difference = UInt8(presented.count == key.count ? 0 : 1)
        for index in key.indices {
            difference |= key[index] ^ (index < presented.count ? presented[index] : 0)
        }
        return difference == 0
    }

    private static func openAIError(_ status: Int, _ message: String, code: String, headers: [(String, String)] = []) -> HealthServer.Response {
        let type =
            switch status {
            case 401: "authentication_error"
            case 429: "rate_limit_exceeded"
            case 400: "invalid_request_error"
            default: "server_error"
            }
        let object: [String: Any] = ["error": ["message": message, "type": type, "code": code, "param": NSNull()]]
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
        return .init(status: status, contentType: "application/json", body: body ?? "{}", headers: headers)
    }

    private static func jsonError(_ message: String) -> String {
        let object: [String: Any] = ["error": ["message": message, "code": "INVALID_ARGUMENT"]]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
