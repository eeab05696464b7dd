import Foundation
import GRPCCore
import GRPCProtobuf
import ModerationProto
import Worker

/// The `duoguard.moderation.v1.Moderation` gRPC service (proto/duoguard/moderation/v1),
/// answered by the same ``ModerationFrontDoor`` as the HTTP API: the Kafka path's
/// validation, thresholds, windows; the synchronous class of the shared batcher.
///
/// - `Classify` (unary): a `ModerationResult` when scored; otherwise the RPC fails with the
///   result's status code and message (INVALID_ARGUMENT, DEADLINE_EXCEEDED,
///   RESOURCE_EXHAUSTED, UNAVAILABLE, INTERNAL), as gRPC clients expect.
/// - `ClassifyStream` (bidirectional): one `ModerationResult` per request, in order, each
///   carrying its own `status` (a bad text fails alone, not the stream).
///
/// The call's gRPC deadline (`grpc-timeout`) is each request's deadline: expired work is shed
/// before inference. Conforms to the service protocol generated from the .proto
/// (moderation.grpc.swift, scripts/generate-proto.sh).
public struct ModerationGRPCService: Duoguard_Moderation_V1_Moderation.ServiceProtocol {
    public static let serviceName = Duoguard_Moderation_V1_Moderation.descriptor.fullyQualifiedService

    private let frontDoor: ModerationFrontDoor

    public init(frontDoor: ModerationFrontDoor) {
        self.frontDoor = frontDoor
    }

    public func classify(request: ServerRequest<ModerationRequest>, context: ServerContext) async throws -> ServerResponse<ModerationResult> {
        let result = await frontDoor.classify(request.message, deadline: Self.deadline(request.metadata), entry: "grpc")
        guard result.status.code == .ok else {
            return ServerResponse(error: RPCError(code: Self.code(result.status.code), message: result.status.message))
        }
        return ServerResponse(message: result)
    }

    public func classifyStream(
        request: StreamingServerRequest<ModerationRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<ModerationResult> {
        let deadline = Self.deadline(request.metadata)
        let frontDoor = self.frontDoor
        return StreamingServerResponse { writer in
            for try await message in request.messages {
                try await writer.write(await frontDoor.classify(message, deadline: deadline, entry: "grpc"))
            }
            return [:]
        }
    }

    /// The call's deadline from `grpc-timeout` (`<1-8 digits><H|M|S|m|u|n>`); nil without one
    /// or when malformed (the transport enforces the timeout itself as well).
    static func deadline(_ metadata: Metadata) -> Date? {
        guard let value = metadata[stringValues: "grpc-timeout"].first(where: { _ in true }),
            let unit = value.last, value.count >= 2, value.count <= 9,
            let amount = Double(value.dropLast()), value.dropLast().allSatisfy(\.isASCII)
        else { return nil }
        let scale: Double? =
            switch unit {
            case "H": 3_600
            case "M": 60
            case "S": 1
            case "m": 1e-3
            case "u": 1e-6
            case "n": 1e-9
            default: nil
            }
        return scale.map { Date().addingTimeInterval(amount * $0) }
    }

    static func code(_ code: ModerationStatus.Code) -> RPCError.Code {
        switch code {
        case .invalidArgument: .invalidArgument
        case .deadlineExceeded: .deadlineExceeded
        case .resourceExhausted: .resourceExhausted
        case .unavailable: .unavailable
        case .unauthenticated: .unauthenticated
        case .permissionDenied: .permissionDenied
        default: .internalError
        }
    }
}
