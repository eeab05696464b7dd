import GRPCCore
import Synchronization

/// Standard gRPC health checking (`grpc.health.v1.Health/Check`): SERVING while the worker
/// takes requests, NOT_SERVING once it stops (for the empty service name and for
/// `duoguard.moderation.v1.Moderation`), NOT_FOUND for other names.
///
/// Its two messages are one field each (`HealthCheckRequest.service = 1`, a string;
/// `HealthCheckResponse.status = 1`, an enum), coded here by hand rather than generating a
/// protobuf module for them. `Watch` is not offered (UNIMPLEMENTED, which the protocol allows
/// clients to expect from servers that only poll).
public struct GRPCHealthService: RegistrableRPCService {
    private let isServing: @Sendable () -> Bool

    public init(isServing: @escaping @Sendable () -> Bool) {
        self.isServing = isServing
    }

    public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        let isServing = self.isServing
        router.registerHandler(
            forMethod: MethodDescriptor(fullyQualifiedService: "grpc.health.v1.Health", method: "Check"),
            deserializer: HealthCheckRequestDeserializer(), serializer: HealthCheckResponseSerializer()
        ) { stream, _ in
            let single = try await ServerRequest(stream: stream)
            switch single.message {
            case "", ModerationGRPCService.serviceName:
                return StreamingServerResponse(single: ServerResponse(message: isServing() ? 1 : 2))
            default:
                return StreamingServerResponse(error: RPCError(code: .notFound, message: "unknown service"))
            }
        }
    }
}

/// `HealthCheckRequest` → its `service` (field 1, length-delimited); other fields skipped.
/// Bounds-checked: malformed bytes are INVALID_ARGUMENT, never a crash.
struct HealthCheckRequestDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> String {
        let data: [UInt8] = bytes.withUnsafeBytes { Array($0) }
        var index = 0
        func varint() throws -> UInt64 {
            var value: UInt64 = 0
            for shift in stride(from: 0, to: 64, by: 7) {
                guard index < data.count else { throw RPCError(code: .invalidArgument, message: "truncated varint") }
                let byte = data[index]
                index += 1
                value |= UInt64(byte & 0x7F) << UInt64(shift)
                if byte & 0x80 == 0 { return value }
            }
            throw RPCError(code: .invalidArgument, message: "varint too long")
        }
        var service = ""
        while index < data.count {
            let key = try varint()
            switch key & 7 {
            case 0: _ = try varint()
            case 1, 5:
                index += key & 7 == 1 ? 8 : 4
            case 2:
                let length = try varint()
                guard length <= UInt64(data.count - index) else { throw RPCError(code: .invalidArgument, message: "truncated field") }
                let end = index + Int(length)
                if key >> 3 == 1 {
                    guard let text = String(validating: data[index..<end], as: UTF8.self) else {
                        throw RPCError(code: .invalidArgument, message: "service is not UTF-8")
                    }
                    service = text
                }
                index = end
            default:
                throw RPCError(code: .invalidArgument, message: "unsupported wire type")
            }
            guard index <= data.count else { throw RPCError(code: .invalidArgument, message: "truncated field") }
        }
        return service
    }
}

/// `HealthCheckResponse { status = 1 }`: the serving status as a varint (1 SERVING, 2 NOT_SERVING).
struct HealthCheckResponseSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ status: UInt8) throws -> Bytes {
        Bytes([0x08, status])
    }
}
