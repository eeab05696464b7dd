#if OTLP
import Foundation
import Logging
import OTel
import ServiceLifecycle

/// The OTLP/HTTP span exporter behind `--otlp-endpoint` (package trait `OTLP`): swift-otel's
/// tracer, bootstrapped as the process-wide tracer, so the worker's `process`/`inference`/
/// `send` spans (and the W3C `traceparent` it reads from and writes into Kafka headers) are
/// OpenTelemetry's.
///
/// - Protocol: OTLP/HTTP with binary protobuf (`POST <endpoint>/v1/traces`,
///   `Content-Type: application/x-protobuf`); swift-otel's gRPC exporter is not built.
/// - Resource: `service.name` = the command (`duoguard-worker`, `duoguard-replay`).
/// - Propagation: W3C Trace Context only (`traceparent`, `tracestate`).
/// - Sampling: swift-otel's default, parent-based always-on: a request whose `traceparent` says
///   "not sampled" is not recorded; one without a parent is.
/// - Processing: a batch span processor (swift-otel's defaults: up to 512 spans per export,
///   every 5 s, queue of 2048; past that spans are dropped, never blocking the worker). Its
///   services run in the worker's service group and flush what is queued at shutdown.
/// - Logs and metrics stay ours (swift-log to stderr, Prometheus on /metrics): only tracing is
///   bootstrapped.
///
/// The standard `OTEL_*` environment variables refine the exporter (e.g.
/// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS` for a collector's token,
/// `OTEL_EXPORTER_OTLP_COMPRESSION`, `OTEL_EXPORTER_OTLP_CERTIFICATE`, `OTEL_TRACES_SAMPLER`,
/// `OTEL_BSP_*`), except those that would contradict the flag and the points above, which
/// are ignored (`overriddenEnvironment`).
enum OTLPExporter {
    /// Bootstraps `InstrumentationSystem` with the exporter to `endpoint` and returns the
    /// services that must run beside the worker. Call at most once per process.
    static func bootstrap(endpoint: String, serviceName: String, logger: Logger) throws -> TracingExport {
        let url = try tracesURL(endpoint)
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.propagators = [.traceContext]
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = OTel.Configuration.LogLevel(logger.logLevel)
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        // Set explicitly, an endpoint is used as is: `tracesURL` already added `/v1/traces`.
        configuration.traces.otlpExporter.endpoint = url
        let environment = ProcessInfo.processInfo.environment.filter { !overriddenEnvironment.contains($0.key) }
        let service = try OTel.bootstrap(configuration: configuration, environment: environment)
        logger.info("exporting spans with OTLP/HTTP", metadata: ["otlp.url": "\(url)", "service.name": "\(serviceName)"])
        return TracingExport(services: [service])
    }

    /// `OTEL_*` variables that the flag and this exporter's fixed choices win over: another
    /// endpoint, protocol (gRPC is not built), exporter, service name or propagator, or
    /// `OTEL_SDK_DISABLED`, would silently turn `--otlp-endpoint` into something else.
    static let overriddenEnvironment: Set<String> = [
        "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME", "OTEL_PROPAGATORS", "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    ]

    /// The URL spans are posted to, from `--otlp-endpoint`: the collector's base URL, as in
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (`http://otel-collector:4318` → `.../v1/traces`, a base
    /// path kept: `https://gw/otlp` → `https://gw/otlp/v1/traces`); a URL that already ends in
    /// `/v1/traces` is used as is. Only http/https with a host; no credentials in the URL (use
    /// `OTEL_EXPORTER_OTLP_HEADERS`), no query or fragment.
    static func tracesURL(_ endpoint: String) throws -> String {
        guard let components = URLComponents(string: endpoint), let scheme = components.scheme?.lowercased() else {
            throw OTLPEndpointError(endpoint: endpoint, reason: "not a URL; expected e.g. http://otel-collector:4318")
        }
        guard scheme == "http" || scheme == "https" else {
            throw OTLPEndpointError(endpoint: endpoint, reason: "scheme must be http or https (OTLP/HTTP), not '\(scheme)'")
        }
        guard let host = components.host, !host.isEmpty else {
            throw OTLPEndpointError(endpoint: endpoint, reason: "no host; expected e.g. http://otel-collector:4318")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw OTLPEndpointError(endpoint: endpoint, reason: "port \(port) is out of range")
        }
        guard components.user == nil, components.password == nil else {
            throw OTLPEndpointError(endpoint: endpoint, reason: "credentials in the URL are not supported; use OTEL_EXPORTER_OTLP_HEADERS")
        }
        guard components.query == nil, components.fragment == nil else {
            throw OTLPEndpointError(endpoint: endpoint, reason: "a query or fragment is not supported")
        }
        var result = components
        // Lower case: swift-otel decides on TLS by comparing the scheme with "https".
        result.scheme = scheme
        if !components.path.hasSuffix("/v1/traces") {
            var path = components.percentEncodedPath
            while path.hasSuffix("/") { path.removeLast() }
            result.percentEncodedPath = path + "/v1/traces"
        }
        guard let url = result.string else {
            throw OTLPEndpointError(endpoint: endpoint, reason: "not a URL")
        }
        return url
    }
}

/// `--otlp-endpoint` is not a usable OTLP/HTTP collector URL.
struct OTLPEndpointError: Error, CustomStringConvertible {
    var endpoint: String
    var reason: String

    var description: String { "'\(endpoint)': \(reason)" }
}

extension OTel.Configuration.LogLevel {
    /// swift-otel's diagnostics at the worker's log level (swift-otel has no notice/critical).
    init(_ level: Logger.Level) {
        switch level {
        case .trace: self = .trace
        case .debug: self = .debug
        case .info, .notice: self = .info
        case .warning: self = .warning
        case .error, .critical: self = .error
        }
    }
}
#endif
