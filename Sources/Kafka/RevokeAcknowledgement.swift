import Dispatch

/// Lets the application tell the consumer that a revoke may complete.
public final class RevokeAcknowledgement: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)

    init() {}

    /// The application is done with the revoked partitions. Calling it twice is harmless.
    public func acknowledge() {
        semaphore.signal()
    }

    /// Called by the poll thread; true when acknowledged in time.
    func wait(timeout: Duration) -> Bool {
        semaphore.wait(timeout: .now() + .milliseconds(Int(timeout.milliseconds))) == .success
    }
}
