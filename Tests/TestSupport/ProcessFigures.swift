import Foundation

/// Figures from /proc (Linux) that tests print beside every speed or memory result, or bound.
public enum ProcessFigures {
    /// Peak and current resident memory, in bytes, of this process or of `pid`.
    public static func memory(of pid: Int32? = nil) -> (peak: Int, current: Int)? {
        let path = "/proc/\(pid.map(String.init) ?? "self")/status"
        guard let status = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        func field(_ name: String) -> Int? {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        guard let peak = field("VmHWM"), let current = field("VmRSS") else { return nil }
        return (peak, current)
    }

    /// Samples the resident memory of `pid` every `interval` until cancelled; the task's value
    /// is the largest sample (a child's VmHWM is not readable once it has exited).
    public static func residentPeak(of pid: Int32, every interval: Duration = .milliseconds(50)) -> Task<Int, Never> {
        Task {
            var peak = 0
            while !Task.isCancelled {
                peak = max(peak, memory(of: pid)?.current ?? 0)
                try? await Task.sleep(for: interval)
            }
            return peak
        }
    }

    /// The 1-, 5- and 15-minute load averages.
    public static var loadAverage: String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    }
}
