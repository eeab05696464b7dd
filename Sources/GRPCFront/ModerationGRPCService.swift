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
/// before inference. Written against the grpc-swift 2 runtime by hand (no generated stubs:
/// see docs/api.md, gRPC), which is all that generated server code does too.
public struct ModerationGRPCService: RegistrableRPCService {
    public static let serviceName = "duoguard.moderation.v1.Moderation"
    static let classify = MethodDescriptor(fullyQualifiedService: serviceName, method: "Classify")
    static let classifyStream = MethodDescriptor(fullyQualifiedService: serviceName, method: "ClassifyStream")

    private let frontDoor: ModerationFrontDoor

    public init(frontDoor: ModerationFrontDoor) {
        self.frontDoor = frontDoor
    }

    public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        let frontDoor = self.frontDoor
        router.registerHandler(
            forMethod: Self.classify, deserializer: ProtobufDeserializer<ModerationRequest>(),
            serializer: ProtobufSerializer<ModerationResult>()
        ) { stream, _ in
            let deadline = Self.deadline(stream.metadata)
            let single = try await ServerRequest(stream: stream)
            let result = await frontDoor.classify(single.message, deadline: deadline, entry: "grpc")
            guard result.status.code == .ok else {
                return StreamingServerResponse(error: RPCError(code: Self.code(result.status.code), message: result.status.message))
            }
            return StreamingServerResponse(single: ServerResponse(message: result))
        }
        router.registerHandler(
            forMethod: Self.classifyStream, deserializer: ProtobufDeserializer<ModerationRequest>(),
            serializer: ProtobufSerializer<ModerationResult>()
        ) { stream, _ in
            let deadline = Self.deadline(stream.metadata)
            return StreamingServerResponse { writer in
                for try await request in stream.messages {
                    try await writer.write(await frontDoor.classify(request, deadline: deadline, entry: "grpc"))
                }
                return [:]
            }
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
