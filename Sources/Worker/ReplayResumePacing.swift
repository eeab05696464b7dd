/// How a yielding replay comes back after a pause: not all at once (plain rules, no clock; the
/// `ReplayYieldGate` feeds them the times).
///
/// The lag gate pauses a replay *after* the live group fell behind, and resumes it when the
/// lag is back under the lower mark. Resumed at full speed, the replay takes its next batches
/// back to back at the very moment live is catching up, and a live worker short of CPU then
/// stalls again: the pause-resume cycle feeds the stalls it reacts to. So:
/// - a pause lasts at least `minimumPause`: the lag signal is no finer than the live group's
///   commit interval (about a second), so a resume sooner than that follows a stale reading;
/// - after a resume the replay's batches are spaced: the first goes at once, then the gap
///   before the next starts at a quarter of `ramp` and shrinks linearly to nothing at `ramp`.
///   A replay batch that would have gone back to back waits instead; past `ramp` nothing waits.
/// Zero durations turn either rule off (`off`: both).
public struct ReplayResumePacing: Sendable, Equatable {
    public let minimumPause: Duration
    public let ramp: Duration

    public static let off = ReplayResumePacing(unchecked: .zero, ramp: .zero)

    /// Nil when a duration is negative.
    public init?(minimumPause: Duration, ramp: Duration) {
        guard minimumPause >= .zero, ramp >= .zero else { return nil }
        self.init(unchecked: minimumPause, ramp: ramp)
    }

    private init(unchecked minimumPause: Duration, ramp: Duration) {
        self.minimumPause = minimumPause
        self.ramp = ramp
    }

    /// The gap before the second batch after a resume.
    public var initialGap: Duration { ramp / 4 }

    /// Whether a pause that has lasted `pausedFor` may end.
    public func mayResume(pausedFor: Duration) -> Bool {
        pausedFor >= minimumPause
    }

    /// How long the next batch waits, `sinceResume` after the gate opened and `sinceLastBatch`
    /// after the replay last took a batch (nil: none since the resume, so this one goes at once).
    public func delay(sinceResume: Duration, sinceLastBatch: Duration?) -> Duration {
        guard ramp > .zero, sinceResume >= .zero, sinceResume < ramp, let sinceLastBatch else { return .zero }
        let gap = initialGap * ((ramp - sinceResume) / ramp)
        return max(.zero, gap - sinceLastBatch)
    }
}
