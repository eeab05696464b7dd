import ArgumentParser
import Logging
import ServiceLifecycle
import Worker

/// Runs a worker under swift-service-lifecycle with the process-level rules shared by
/// `worker` and `replay`: SIGTERM/SIGINT start a graceful shutdown; shutdown has a hard upper
/// bound (past `shutdownLimit` the group cancels the worker, and a worker that ignored even
/// that for 10 s more is ended by the library); a fatal runtime error exits with status 2.
enum WorkerRunner {
    static func run(_ worker: ModerationWorker, shutdownLimit: Duration, stopWhenDone: Bool = false, logger: Logger) async throws {
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: worker, successTerminationBehavior: stopWhenDone ? .gracefullyShutdownGroup : .cancelGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = shutdownLimit
        configuration.maximumCancellationDuration = .seconds(10)
        do {
            try await ServiceGroup(configuration: configuration).run()
        } catch let error as WorkerError {
            logger.error("\(error)")
            if case .fatal = error { throw ExitCode(2) }
            throw ExitCode.failure
        }
    }
}
