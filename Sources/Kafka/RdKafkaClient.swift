import CRdKafka
import Dispatch
import Logging

/// Owns one librdkafka handle (`rd_kafka_t`) and the callbacks librdkafka calls on it.
///
/// Internal: no librdkafka pointer leaves the `Kafka` module. librdkafka handles are
/// thread-safe, so this type is `@unchecked Sendable`; callbacks find their context through
/// `rd_kafka_opaque`, set to this object's `callbacks`.
///
/// The lifetime rule: application threads reach the handle only through `withHandle` and
/// `blocking`, which hold a lease of `lifetime`; `destroy()` refuses new leases and waits
/// for the in-flight ones before `rd_kafka_destroy`. Only the client's own poll thread (which
/// is the thread that calls `destroy`) uses `pollThreadHandle` directly.
final class RdKafkaClient: @unchecked Sendable {
    private let handle: OpaquePointer
    let callbacks: RdKafkaCallbacks
    let lifetime = HandleLifetime()
    private let unmanagedCallbacks: Unmanaged<RdKafkaCallbacks>

    enum Kind {
        case consumer, producer
    }

    init(kind: Kind, properties: [String: String], callbacks: RdKafkaCallbacks) throws(KafkaError) {
        guard let conf = rd_kafka_conf_new() else {
            throw .configuration("librdkafka could not allocate a configuration")
        }
        var errorBuffer = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            let result = rd_kafka_conf_set(conf, key, value, &errorBuffer, errorBuffer.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let detail = errorBuffer.nulTerminatedString
                let shown = KafkaConfiguration.isSecret(key) ? "[redacted]" : value
                throw .configuration("property '\(key)'='\(shown)' rejected: \(detail)")
            }
        }
        // Route librdkafka's logs to swift-log, and errors/rebalances/deliveries to `callbacks`.
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let rk, let context = RdKafkaCallbacks.from(rk) else { return }
            context.log(level: level, facility: facility, message: message)
        }
        rd_kafka_conf_set_error_cb(conf) { rk, code, reason, opaque in
            guard let opaque else { return }
            let context = Unmanaged<RdKafkaCallbacks>.fromOpaque(opaque).takeUnretainedValue()
            let text = reason.map { String(cString: $0) } ?? ""
            var error = KafkaError(
                code: rd_kafka_resp_err_t(rawValue: code), context: "librdkafka", detail: text)
            if code == RD_KAFKA_RESP_ERR__FATAL.rawValue, let rk {
                // The callback carries only `_FATAL`; the underlying error is asked for here.
                // (`_FATAL` itself is already classified fatal, for when that is gone.)
                error = RdKafkaClient.fatalError(of: rk) ?? error
            }
            context.onError?(error)
        }
        if kind == .consumer {
            // The consumer sets `onRebalance` right after creation, before it subscribes, so
            // no rebalance can come earlier; should one, librdkafka's default handling applies.
            rd_kafka_conf_set_rebalance_cb(conf) { rk, code, partitions, opaque in
                guard let rk, let opaque, let partitions else { return }
                let context = Unmanaged<RdKafkaCallbacks>.fromOpaque(opaque).takeUnretainedValue()
                if let handler = context.onRebalance {
                    handler(rk, code, partitions)
                } else if code == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
                    _ = rd_kafka_assign(rk, partitions)
                } else {
                    _ = rd_kafka_assign(rk, nil)
                }
            }
        }
        if callbacks.onDelivery != nil {
            rd_kafka_conf_set_dr_msg_cb(conf) { rk, message, opaque in
                guard let rk, let opaque, let message else { return }
                let context = Unmanaged<RdKafkaCallbacks>.fromOpaque(opaque).takeUnretainedValue()
                context.onDelivery?(rk, message)
            }
        }
        let unmanaged = Unmanaged.passRetained(callbacks)
        rd_kafka_conf_set_opaque(conf, unmanaged.toOpaque())

        let type = kind == .consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER
        guard let handle = rd_kafka_new(type, conf, &errorBuffer, errorBuffer.count) else {
            // On failure the configuration is still ours.
            rd_kafka_conf_destroy(conf)
            unmanaged.release()
            throw .configuration("cannot create Kafka client: \(errorBuffer.nulTerminatedString)")
        }
        self.handle = handle
        self.callbacks = callbacks
        self.unmanagedCallbacks = unmanaged
    }

    /// The handle, for the client's own poll thread only: that thread calls `destroy()`
    /// itself, so its calls cannot outlive the handle. Everyone else uses `withHandle`.
    var pollThreadHandle: OpaquePointer { handle }

    /// Runs a (non-blocking or self-bounded) librdkafka call under a lease; throws
    /// `KafkaError.closed` when the client no longer admits it.
    func withHandle<T>(
        _ admission: HandleLifetime.Admission = .whileOpen, _ body: (OpaquePointer) throws(KafkaError) -> T
    ) throws(KafkaError) -> T {
        try lifetime.withLease(admission) { () throws(KafkaError) in try body(handle) }
    }

    /// Blocking librdkafka calls (commit, metadata, watermarks, admin) run here, off Swift's
    /// cooperative thread pool, which must never block.
    private let blockingQueue = DispatchQueue(label: "duoguard.kafka.blocking", attributes: .concurrent)

    /// Runs a blocking librdkafka call on `blockingQueue` under a lease and awaits its result.
    /// The lease is taken before the call is queued, so a call made after `close()` began
    /// fails at once with `KafkaError.closed`. `body` must bound itself (a timeout).
    func blocking<T: Sendable>(
        _ admission: HandleLifetime.Admission = .whileOpen,
        _ body: @escaping @Sendable (OpaquePointer) throws(KafkaError) -> T
    ) async throws(KafkaError) -> T {
        try lifetime.acquire(admission)
        let result: Result<T, KafkaError> = await withCheckedContinuation { continuation in
            blockingQueue.async { [self] in
                let result = Result { () throws(KafkaError) in try body(handle) }
                lifetime.release()
                continuation.resume(returning: result)
            }
        }
        return try result.get()
    }

    /// Refuses new calls, waits for the in-flight ones, then destroys the handle (blocking
    /// until librdkafka's threads end). Call exactly once, from a thread that may block.
    func destroy() {
        lifetime.closeAndWaitForLeases()
        rd_kafka_destroy(handle)
        unmanagedCallbacks.release()
    }

    /// Topic names and partition counts known to the cluster; fails when no broker answers.
    func topics(timeout: Duration) async throws(KafkaError) -> [String: Int] {
        try await blocking { handle throws(KafkaError) in try Self.topics(handle, timeout: timeout) }
    }

    private static func topics(_ handle: OpaquePointer, timeout: Duration) throws(KafkaError) -> [String: Int] {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let code = rd_kafka_metadata(handle, 1, nil, &metadata, Int32(clamping: timeout.milliseconds))
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            let brokers = String(cString: rd_kafka_name(handle))
            var error = KafkaError(code: code, context: "metadata request (\(brokers))")
            if code == RD_KAFKA_RESP_ERR__TIMED_OUT || code == RD_KAFKA_RESP_ERR__TRANSPORT {
                error.kind = .brokerUnreachable
                error.message = "no broker answered within \(timeout): \(error.message)"
            }
            throw error
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        var result: [String: Int] = [:]
        for index in 0..<Int(max(metadata.pointee.topic_cnt, 0)) {
            let topic = metadata.pointee.topics[index]
            guard topic.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            result[String(cString: topic.topic)] = Int(topic.partition_cnt)
        }
        return result
    }

    /// Raises a fatal error on the handle through librdkafka's real fatal-error path
    /// (`rd_kafka_test_fatal_error`), for tests: a real one needs a misbehaving broker.
    func raiseFatalErrorForTesting(code: Int32, reason: String) throws(KafkaError) {
        try withHandle { handle throws(KafkaError) in
            let result = rd_kafka_test_fatal_error(handle, rd_kafka_resp_err_t(rawValue: code), reason)
            guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(code: result, context: "test fatal error")
            }
        }
    }

    /// The fatal error librdkafka has raised on `handle`, if any (marked fatal).
    static func fatalError(of handle: OpaquePointer) -> KafkaError? {
        var buffer = [CChar](repeating: 0, count: 512)
        let code = rd_kafka_fatal_error(handle, &buffer, buffer.count)
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        var error = KafkaError(code: code, context: "fatal", detail: buffer.nulTerminatedString)
        error.markFatal()
        return error
    }
}

/// The context librdkafka's C callbacks reach through the handle's opaque pointer.
final class RdKafkaCallbacks: @unchecked Sendable {
    let logger: Logger
    /// Set before the handle exists (or, for the consumer's rebalance, before it subscribes)
    /// and never changed afterwards.
    var onError: (@Sendable (KafkaError) -> Void)?
    var onRebalance: ((OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Void)?
    var onDelivery: ((OpaquePointer, UnsafePointer<rd_kafka_message_t>) -> Void)?

    init(logger: Logger) {
        self.logger = logger
    }

    static func from(_ rk: OpaquePointer) -> RdKafkaCallbacks? {
        guard let opaque = rd_kafka_opaque(rk) else { return nil }
        return Unmanaged<RdKafkaCallbacks>.fromOpaque(opaque).takeUnretainedValue()
    }

    /// Maps syslog levels (librdkafka's) to swift-log levels.
    func log(level: Int32, facility: UnsafePointer<CChar>?, message: UnsafePointer<CChar>?) {
        let swiftLevel: Logger.Level
        switch level {
        case ...3: swiftLevel = .error
        case 4: swiftLevel = .warning
        case 5: swiftLevel = .notice
        case 6: swiftLevel = .info
        default: swiftLevel = .debug
        }
        let text = message.map { String(cString: $0) } ?? ""
        let facilityText = facility.map { String(cString: $0) } ?? ""
        logger.log(level: swiftLevel, "\(text)", metadata: ["librdkafka.facility": "\(facilityText)"])
    }
}

extension Array where Element == CChar {
    /// The text of a C error buffer that librdkafka filled in (always NUL-terminated by it;
    /// an unterminated buffer is read up to its end).
    var nulTerminatedString: String {
        let end = firstIndex(of: 0) ?? endIndex
        return String(decoding: self[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
