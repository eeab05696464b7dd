import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The last resort of a bounded stop: once armed, ends the process `limit` later unless it
/// has exited by then. Every step of a stop has its own timeout (`ShutdownBound`), so this
/// fires only when something no timeout bounds overran (a long model batch, a librdkafka call
/// that ignored its timeout). It replaces swift-service-lifecycle's cancellation timeout,
/// which ends the process with `fatalError` (a crash: a core dump and an exit by signal that
/// an orchestrator reads as a failure) instead of an exit with a status.
///
/// It runs on a Dispatch timer, not on a Swift task: the cooperative pool may be the very
/// thing that is stuck.
public final class ShutdownWatchdog: Sendable {
    /// What ends the process: `_exit` (no atexit handlers or static destructors run while
    /// other threads still use what they would tear down). Tests pass a recorder.
    public typealias Exit = @Sendable (_ status: Int32, _ message: String) -> Void

    private let limit: Duration
    private let exit: Exit
    private let armed = Atomic<Bool>(false)
    private let queue = DispatchQueue(label: "duoguard.shutdown-watchdog")

    /// `status` decides the exit status when it fires (e.g. 2 after a fatal error, else 3).
    private let status: @Sendable () -> Int32

    public init(limit: Duration, status: @escaping @Sendable () -> Int32, exit: @escaping Exit = ShutdownWatchdog.exitProcess) {
        self.limit = limit
        self.status = status
        self.exit = exit
    }

    /// Starts the countdown (once; later calls do nothing).
    public func arm() {
        guard armed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        let nanoseconds = limit.components.seconds * 1_000_000_000 + limit.components.attoseconds / 1_000_000_000
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: nanoseconds))) { [self] in
            exit(status(), "stop not finished within its limit of \(ShutdownBound.text(limit)); exiting (unanswered requests are re-read after restart)")
        }
    }

    public static let exitProcess: Exit = { status, message in
        let line = Array("duoguard: \(message)\n".utf8)
        line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
        _exit(status)
    }
}
