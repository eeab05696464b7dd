import Logging
import ServiceLifecycle

/// Where the worker's spans go. Without `--otlp-endpoint` nowhere: the worker's spans go to
/// swift-distributed-tracing's no-op tracer (W3C trace headers are still copied from requests
/// onto results and dead letters). With it, an OTLP/HTTP exporter, which only builds with the
/// package trait `OTLP` (`swift build --traits OTLP`): swift-otel and its HTTP stack nearly
/// triple a clean debug build of the tool (151 → 433 s here) and make `--build-tests` 1.5×
/// longer (263 → 403 s), so the default build and CI leave it out; the image builds with it.
struct TracingExport {
    /// Services that must run beside the worker (the exporter's batch processor).
    var services: [any Service] = []

    /// Bootstraps the process-wide tracer with an OTLP/HTTP exporter to `endpoint`.
    static func otlp(endpoint: String, serviceName: String, logger: Logger) throws -> TracingExport {
        #if OTLP
        return try OTLPExporter.bootstrap(endpoint: endpoint, serviceName: serviceName, logger: logger)
        #else
        throw TracingExportError.notBuilt
        #endif
    }
}

enum TracingExportError: Error, CustomStringConvertible {
    case notBuilt

    var description: String {
        "this duoguard was built without the OTLP exporter; build it with `swift build -c release --traits OTLP` (the container image does)"
    }
}
