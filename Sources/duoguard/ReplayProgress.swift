import Foundation
import Worker

#if canImport(Glibc)
import Glibc
#endif

/// Progress of a replay: a bar with rate and ETA on a terminal, a log line every 10 s otherwise.
final class ReplayProgress: Sendable {
    let total: Int64
    private let started = ContinuousClock.now
    private let terminal = isatty(STDERR_FILENO) != 0

    init(total: Int64) {
        self.total = total
    }

    func report(
        _ read: @Sendable () -> (answered: Int, deadLettered: Int), yielding: @Sendable () -> ReplayYieldGate.Status? = { nil }
    ) async {
        while !Task.isCancelled {
            draw(read().answered, yielding: yielding())
            try? await Task.sleep(for: terminal ? .milliseconds(200) : .seconds(10))
        }
    }

    func draw(_ answered: Int, yielding: ReplayYieldGate.Status? = nil) {
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = Double(answered) / max(seconds, 0.001)
        let fraction = total == 0 ? 1 : min(1, Double(answered) / Double(total))
        let remaining = rate > 0 ? Double(max(0, total - Int64(answered))) / rate : 0
        let eta = String(format: "%d:%02d", Int(remaining) / 60, Int(remaining) % 60)
        // Why the replay is not moving, when it is yielding: the live group's lag and the mark.
        let yieldNote = yielding.map { status in
            status.paused
                ? String(format: " PAUSED (%@; %.0f s paused in %d pauses)", status.reason, status.pausedSeconds, status.pauses)
                : status.pauses > 0 ? String(format: " (yielded %.0f s in %d pauses)", status.pausedSeconds, status.pauses) : ""
        } ?? ""
        if terminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
            FileHandle.standardError.write(
                Data(String(format: "\r[%@] %3.0f%% %d/%lld %.1f req/s ETA %@%@ ", bar, fraction * 100, answered, total, rate, eta, yieldNote).utf8))
        } else {
            FileHandle.standardError.write(
                Data(String(format: "replay: %d/%lld (%.0f%%), %.1f req/s, ETA %@%@\n", answered, total, fraction * 100, rate, eta, yieldNote).utf8))
        }
    }

    func finish() {
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
