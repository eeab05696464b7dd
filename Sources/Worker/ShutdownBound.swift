import Kafka

/// The longest a worker's stop can take, added up from the timeouts that bound each of its
/// steps (issue 21 item 6). Each step below is bounded by its own timeout, and nothing else
/// runs between them, so their sum bounds the whole stop; the process-level limit
/// (`WorkerConfiguration.shutdownLimit`, what swift-service-lifecycle and the orchestrator
/// allow) is checked against it at start, so a configuration whose stop could outlast the
/// limit is refused instead of being cut short (or crashed) mid-commit.
///
/// A fatal stop skips the drain (nothing more will be acknowledged usefully) and flushes for
/// `fatalFlush` only, so its bound is much shorter.
public struct ShutdownBound: Sendable, CustomStringConvertible {
    /// One step of the stop and the timeout that bounds it.
    public struct Step: Sendable, Equatable {
        public let name: String
        public let limit: Duration
    }

    /// A graceful stop, in order.
    public let steps: [Step]
    /// A stop after a fatal error, in order (no drain, a short flush).
    public let fatalSteps: [Step]

    /// librdkafka's group leave and handle teardown after the revoke's commit (consumer close).
    public static let leaveMargin: Duration = .seconds(5)
    /// The producer's flush after a fatal error: the producer is usually the failed client.
    public static let fatalFlush: Duration = .seconds(1)
    /// The health server's close (it drops every connection within this, `HealthServer`).
    public static let healthServerStop: Duration = .seconds(2)
    /// The gRPC server's stop (issue 22): running calls get this long, then are cancelled
    /// (`GRPCFrontServer`); it stops before the worker does.
    public static let grpcServerStop: Duration = .seconds(2)

    /// The API servers' steps (issue 22), to pass as `api`: the HTTP API's close (the
    /// `HealthServer` of `--http-port`, within its `stopTimeout`) and the gRPC server's stop.
    public static func apiSteps(httpStop: Duration?, grpc: Bool) -> [Step] {
        (httpStop.map { [Step(name: "HTTP API server stop", limit: $0)] } ?? [])
            + (grpc ? [Step(name: "gRPC server stop", limit: grpcServerStop)] : [])
    }

    /// How long the consumer's close may take: the revoke at close (no second drain; one
    /// commit, `commitTimeout`) and leaving the group.
    public static func consumerClose(commitTimeout: Duration) -> Duration { commitTimeout + leaveMargin }

    /// - Parameter api: the API servers' steps (``apiSteps(httpStop:grpc:)``), none by default.
    public init(drain: Duration, commit: Duration, flush: Duration, api: [Step] = []) {
        let close = Self.consumerClose(commitTimeout: commit)
        steps = [
            Step(name: "drain (--drain-timeout-ms)", limit: drain),
            Step(name: "final commit (--commit-timeout-ms)", limit: commit),
            Step(name: "revoke commit and group leave (--commit-timeout-ms + \(Self.leaveMargin))", limit: close),
            Step(name: "producer flush (--flush-timeout-ms)", limit: flush),
            Step(name: "producer teardown", limit: KafkaProducer.closeMargin),
            Step(name: "health server stop", limit: Self.healthServerStop),
        ] + api
        fatalSteps = [
            Step(name: "final commit (--commit-timeout-ms)", limit: commit),
            Step(name: "revoke commit and group leave (--commit-timeout-ms + \(Self.leaveMargin))", limit: close),
            Step(name: "producer flush after a fatal error", limit: Self.fatalFlush),
            Step(name: "producer teardown", limit: KafkaProducer.closeMargin),
            Step(name: "health server stop", limit: Self.healthServerStop),
        ] + api
    }

    /// The worst case of a graceful stop.
    public var graceful: Duration { steps.reduce(.zero) { $0 + $1.limit } }
    /// The worst case of a stop after a fatal error.
    public var fatal: Duration { fatalSteps.reduce(.zero) { $0 + $1.limit } }

    /// "57 s = drain (--drain-timeout-ms) 30 s + …", for start-up errors and logs.
    public var description: String {
        "\(Self.text(graceful)) = " + steps.map { "\($0.name) \(Self.text($0.limit))" }.joined(separator: " + ")
    }

    static func text(_ duration: Duration) -> String {
        let ms = duration.milliseconds
        return ms % 1_000 == 0 ? "\(ms / 1_000) s" : "\(ms) ms"
    }
}
