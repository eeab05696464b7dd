import GRPCCore
import Synchronization

/// Standard gRPC health checking (`grpc.health.v1.Health`): SERVING while the worker takes
/// requests, NOT_SERVING while it is not ready or once it stops (for the empty service name
/// and for `duoguard.moderation.v1.Moderation`); other names are NOT_FOUND (`Check`) or
/// SERVICE_UNKNOWN (`Watch`), as the protocol says.
///
/// `Watch` streams the status at once and again at every change, read every
/// `watchInterval` from the same `isServing` that `Check` answers from (a poll: readiness is a
/// plain function of the worker's state, and one sleeping task per watcher costs nothing).
/// When the server stops (``stopWatching()``, which ``GRPCFrontServer`` calls before its
/// graceful shutdown), each watch sends NOT_SERVING and ends, so open watches never hold the
/// shutdown past its bound: a graceful shutdown waits for running calls.
///
/// Its two messages are one field each (`HealthCheckRequest.service = 1`, a string;
/// `HealthCheckResponse.status = 1`, an enum), coded here by hand rather than generating a
/// protobuf module for them.
public struct GRPCHealthService: RegistrableRPCService {
    /// Set once the server stops: watches end.
    final class Stopping: Sendable {
        let value = Atomic<Bool>(false)
    }

    private let isServing: @Sendable () -> Bool
    private let stopping = Stopping()
    private let watchInterval: Duration

    public init(isServing: @escaping @Sendable () -> Bool, watchInterval: Duration = .milliseconds(200)) {
        self.isServing = isServing
        self.watchInterval = watchInterval
    }

    /// True once ``stopWatching()`` was called (the server is stopping).
    public var isStopping: Bool { stopping.value.load(ordering: .acquiring) }

    /// Ends every `Watch` (after a last NOT_SERVING) and makes new ones end at once.
    public func stopWatching() {
        stopping.value.store(true, ordering: .releasing)
    }

    public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        let isServing = self.isServing
        let stopping = self.stopping
        let interval = watchInterval
        router.registerHandler(
            forMethod: MethodDescriptor(fullyQualifiedService: "grpc.health.v1.Health", method: "Check"),
            deserializer: HealthCheckRequestDeserializer(), serializer: HealthCheckResponseSerializer()
        ) { stream, _ in
            let single = try await ServerRequest(stream: stream)
            guard Self.isKnown(single.message) else {
                return StreamingServerResponse(error: RPCError(code: .notFound, message: "unknown service"))
            }
            let serving = isServing() && !stopping.value.load(ordering: .acquiring)
            return StreamingServerResponse(single: ServerResponse(message: serving ? Self.serving : Self.notServing))
        }
        router.registerHandler(
            forMethod: MethodDescriptor(fullyQualifiedService: "grpc.health.v1.Health", method: "Watch"),
            deserializer: HealthCheckRequestDeserializer(), serializer: HealthCheckResponseSerializer()
        ) { stream, _ in
            let single = try await ServerRequest(stream: stream)
            let known = Self.isKnown(single.message)
            return StreamingServerResponse { writer in
                var sent: UInt8?
                while true {
                    let stopped = stopping.value.load(ordering: .acquiring)
                    let status = known ? (isServing() && !stopped ? Self.serving : Self.notServing) : Self.serviceUnknown
                    if status != sent {
                        try await writer.write(status)
                        sent = status
                    }
                    if stopped { return [:] }
                    // Throws when the client cancels the watch: the handler ends with it.
                    try await Task.sleep(for: interval)
                }
            }
        }
    }

    static let serving: UInt8 = 1
    static let notServing: UInt8 = 2
    static let serviceUnknown: UInt8 = 3

    private static func isKnown(_ service: String) -> Bool {
        service.isEmpty || service == ModerationGRPCService.serviceName
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

/// `HealthCheckResponse { status = 1 }`: the serving status as a varint (1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN).
struct HealthCheckResponseSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ status: UInt8) throws -> Bytes {
        Bytes([0x08, status])
    }
}
