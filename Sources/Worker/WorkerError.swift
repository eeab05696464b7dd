/// Errors that stop the worker (at start-up, or fatal while running).
public enum WorkerError: Error, CustomStringConvertible, Sendable {
    /// Something needed to start is missing or wrong (model, topics, broker, port).
    case startup(String)
    /// A fatal error while running (e.g. the producer was fenced).
    case fatal(String)

    public var description: String {
        switch self {
        case .startup(let message): return "cannot start worker: \(message)"
        case .fatal(let message): return "worker stopped: \(message)"
        }
    }
}
