import Foundation
import Synchronization

/// Ends the process when one fuzz case runs longer than its bound: a hang is a failure like
/// a crash, and a test that waits for ever never reports it. The input is saved first.
final class CaseWatchdog: Sendable {
    private let caseStart = Atomic<UInt64>(0) // uptime in ns; 0 = between cases
    private let stopped = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)
    let timeout: Double

    init(timeout: Double) {
        self.timeout = timeout
        let thread = Thread { [self] in watch() }
        thread.name = "fuzz-watchdog"
        thread.start()
    }

    func caseBegins() { caseStart.store(DispatchTime.now().uptimeNanoseconds, ordering: .releasing) }
    func caseEnds() { caseStart.store(0, ordering: .releasing) }

    /// Stops the watching thread and waits (boundedly) for it to leave.
    func stop() {
        stopped.store(true, ordering: .releasing)
        _ = done.wait(timeout: .now() + 5)
    }

    private func watch() {
        defer { done.signal() }
        while !stopped.load(ordering: .acquiring) {
            Thread.sleep(forTimeInterval: 0.1)
            let start = caseStart.load(ordering: .acquiring)
            guard start != 0 else { continue }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if elapsed > timeout, caseStart.load(ordering: .acquiring) == start {
                CrashRecorder.saveInput(reason: "hung (a case ran past DUOGUARD_FUZZ_CASE_TIMEOUT)")
                abort()
            }
        }
    }
}
