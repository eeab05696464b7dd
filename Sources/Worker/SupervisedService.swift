import ServiceLifecycle

/// What the command line's runner needs of a long-running service besides `Service`: whether
/// it stopped on a fatal error (exit status 2), and a hook run once when it begins to stop,
/// with which the process arms its shutdown watchdog. `ModerationWorker` (Kafka) and
/// `ModerationServer` (synchronous callers only) are both run this way.
public protocol SupervisedService: Service {
    /// True once a fatal error happened (the process must exit with status 2).
    var failed: Bool { get }
    /// Runs `action` once when the service begins to stop, or now if it has.
    func whenStopping(_ action: @escaping @Sendable () -> Void)
}
