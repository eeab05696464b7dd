import ArgumentParser
import Logging
import ServiceLifecycle
import Worker

/// Runs a worker under swift-service-lifecycle with the process-level rules shared by
/// `worker`, `replay` and `serve`: SIGTERM/SIGINT (taken over by `signals` when the command started)
/// start a graceful shutdown, or end the command at once when they came before the worker
/// ran; shutdown has a hard upper bound (past `shutdownLimit` the group cancels the worker,
/// and a worker that ignored even that for 10 s more is ended by the library); a fatal
/// runtime error exits with status 2.
enum WorkerRunner {
    static func run(
        _ worker: some Service, signals: ShutdownSignals, shutdownLimit: Duration, stopWhenDone: Bool = false,
        tracing: TracingExport, logger: Logger, beside: [any Service] = []
    ) async throws {
        if signals.isRequested {
            logger.info("stopped before the worker started (signal during start-up)")
            return
        }
        // The exporter (if any) runs beside the worker and flushes its spans when the group stops.
        var configuration = ServiceGroupConfiguration(
            services: tracing.services.map { .init(service: $0) }
                + [.init(service: worker, successTerminationBehavior: stopWhenDone ? .gracefullyShutdownGroup : .cancelGroup)]
                // `beside` (the gRPC port) after the worker: shutdown runs in reverse, so it stops taking calls first.
                + beside.map { .init(service: $0) },
            logger: logger)
        configuration.maximumGracefulShutdownDuration = shutdownLimit
        configuration.maximumCancellationDuration = .seconds(10)
        let group = ServiceGroup(configuration: configuration)
        signals.onSignal {
            Task { await group.triggerGracefulShutdown() }
        }
        do {
            try await group.run()
        } catch let error as WorkerError {
            logger.error("\(error)")
            if case .fatal = error { throw ExitCode(2) }
            throw ExitCode.failure
        }
    }
}
