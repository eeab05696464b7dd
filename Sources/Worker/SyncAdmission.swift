import Synchronization

/// Admission control of synchronous callers (HTTP, gRPC): at most `maxRequests` requests and
/// `maxBytes` bytes of text admitted at once, from admission until their answer.
///
/// A synchronous caller is never queued without bound: over either limit it is refused at once
/// (RESOURCE_EXHAUSTED, HTTP 429) and may retry, because the model's throughput is what it
/// is and a queue longer than the callers' patience only turns every answer into a timeout.
/// The limits also bound how much of each batch the urgent lane can take from the stream
/// (``MicroBatcher``): at most `maxRequests` requests ahead of it.
public final class SyncAdmission: Sendable {
    /// Why a request was refused.
    public enum Refusal: Error, Sendable, Equatable {
        /// `maxRequests` are admitted already.
        case tooManyRequests(limit: Int)
        /// The request's bytes would take the admitted total over `maxBytes`.
        case tooManyBytes(requested: Int, inUse: Int, limit: Int)

        public var message: String {
            switch self {
            case .tooManyRequests(let limit):
                "over capacity: \(limit) synchronous requests are being served; retry later"
            case .tooManyBytes(let requested, let inUse, let limit):
                "over capacity: \(requested) bytes requested, \(inUse) of \(limit) in use; retry later"
            }
        }
    }

    /// An admitted request's claim; give it back with ``release(_:)`` exactly once.
    public struct Ticket: Sendable, Equatable {
        public let bytes: Int
    }

    private struct Usage {
        var requests = 0
        var bytes = 0
    }

    public let maxRequests: Int
    public let maxBytes: Int
    private let usage = Mutex(Usage())

    public init(maxRequests: Int, maxBytes: Int) {
        self.maxRequests = max(1, maxRequests)
        self.maxBytes = max(1, maxBytes)
    }

    /// Claims one request of `bytes`, or says why not. A single request larger than
    /// `maxBytes` is admitted when nothing else is (its own size limit is checked elsewhere),
    /// so the byte limit never refuses a valid request forever.
    public func admit(bytes: Int) -> Result<Ticket, Refusal> {
        usage.withLock { usage in
            if usage.requests >= maxRequests { return .failure(.tooManyRequests(limit: maxRequests)) }
            if usage.requests > 0, usage.bytes + bytes > maxBytes {
                return .failure(.tooManyBytes(requested: bytes, inUse: usage.bytes, limit: maxBytes))
            }
            usage.requests += 1
            usage.bytes += bytes
            return .success(Ticket(bytes: bytes))
        }
    }

    public func release(_ ticket: Ticket) {
        usage.withLock { usage in
            usage.requests -= 1
            usage.bytes -= ticket.bytes
        }
    }

    /// Requests admitted now.
    public var requests: Int { usage.withLock { $0.requests } }
    /// Bytes admitted now.
    public var bytes: Int { usage.withLock { $0.bytes } }
}
