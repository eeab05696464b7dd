import ArgumentParser
import Logging
import ServiceLifecycle
import Worker

/// Runs a worker under swift-service-lifecycle with the process-level rules shared by
/// `worker`, `replay` and `serve`: SIGTERM/SIGINT (taken over by `signals` when the command started)
/// start a graceful shutdown, or end the command at once when they came before the worker
/// ran; a stop has a hard upper bound (`shutdownLimit`, checked at start against the sum of
/// its steps' timeouts, `ShutdownBound`): past it a watchdog exits the process with status 3
/// (2 after a fatal error), never a crash; a fatal runtime error exits with status 2.
enum WorkerRunner {
    static func run(
        _ worker: some SupervisedService, signals: ShutdownSignals, shutdownLimit: Duration, stopWhenDone: Bool = false,
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
        // Past the limit the group cancels its services; it must not also crash the process
        // (the library's cancellation timeout is a `fatalError`): the watchdog exits instead.
        configuration.maximumGracefulShutdownDuration = shutdownLimit
        configuration.maximumCancellationDuration = nil
        let group = ServiceGroup(configuration: configuration)
        let watchdog = ShutdownWatchdog(limit: shutdownLimit) { worker.failed ? 2 : 3 }
        worker.whenStopping { watchdog.arm() }
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
