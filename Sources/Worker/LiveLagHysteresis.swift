/// When a replay yields to live traffic: a plain state machine over the live group's lag
/// readings (no clock, no I/O; `LiveYieldWatcher` feeds it about once a second).
///
/// Pause when the lag goes *above* `pauseAbove`; resume only once it is *at or below*
/// `resumeAtOrBelow` (lower): the gap is the hysteresis, so a lag hovering around one mark
/// does not flap the replay on and off every second. A reading that failed changes nothing:
/// a flaky admin path neither stalls the replay nor lets it stampede the live group.
public struct LiveLagHysteresis: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case running
        case yielding
    }

    public enum Change: Sendable, Equatable {
        /// The lag went above the pause mark: stop taking replay records.
        case pause(lag: Int64)
        /// The lag came down to the resume mark: take replay records again.
        case resume(lag: Int64)
    }

    public let pauseAbove: Int64
    public let resumeAtOrBelow: Int64
    public private(set) var state: State = .running
    /// The newest lag read, `nil` before the first or after a failed reading.
    public private(set) var lastLag: Int64?
    /// Times the replay paused.
    public private(set) var pauses = 0
    /// Readings in a row that failed.
    public private(set) var failedReadings = 0

    /// `resumeAtOrBelow` must be below `pauseAbove` (both ≥ 0): equal marks would be no
    /// hysteresis. Returns nil otherwise.
    public init?(pauseAbove: Int64, resumeAtOrBelow: Int64) {
        guard pauseAbove >= 0, resumeAtOrBelow >= 0, resumeAtOrBelow < pauseAbove else { return nil }
        self.pauseAbove = pauseAbove
        self.resumeAtOrBelow = resumeAtOrBelow
    }

    /// Takes a lag reading; returns the change to make, if any.
    public mutating func observe(lag: Int64) -> Change? {
        lastLag = lag
        failedReadings = 0
        switch state {
        case .running where lag > pauseAbove:
            state = .yielding
            pauses += 1
            return .pause(lag: lag)
        case .yielding where lag <= resumeAtOrBelow:
            state = .running
            return .resume(lag: lag)
        default:
            return nil
        }
    }

    /// A reading failed: the state stays as it is.
    public mutating func observeFailure() {
        lastLag = nil
        failedReadings += 1
    }
}
