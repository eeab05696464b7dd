/// `duoguard replay --yield-to-group`: which live consumer group a replay gives way to, and
/// at which lag (`LiveLagHysteresis`).
public struct LiveYield: Sendable, Equatable {
    /// The live workers' consumer group.
    public var group: String
    /// The topics whose lag counts: the live group's input topics.
    public var topics: [String]
    /// Pause the replay while the live group's lag (messages not yet committed, summed over
    /// `topics`' partitions) is above this. Default 1,000.
    public var maxLag: Int64 = 1_000
    /// Resume once the lag is at or below this. Default: half of `maxLag`.
    public var resumeLag: Int64?
    /// How often the lag is read. Default 250 ms: a reading is one OffsetFetch and a
    /// ListOffsets per partition, cheap beside the live latency a slow signal costs (the
    /// replay keeps taking work until the reading that pauses it).
    public var interval: Duration = .milliseconds(250)
    /// A pause lasts at least this (`ReplayResumePacing`). Default 1 s: the live group's lag
    /// is no finer than its commit interval (about a second), so a sooner resume follows a
    /// reading that may predate the catch-up.
    public var minimumPause: Duration = .seconds(1)
    /// After a resume the replay's batches are spaced over this long, from a quarter of it
    /// down to nothing (`ReplayResumePacing`). Default 2 s: two live commit intervals, long
    /// enough for the live group's next readings to show whether the resume hurt it.
    public var resumeRamp: Duration = .seconds(2)

    public init(group: String, topics: [String]) {
        self.group = group
        self.topics = topics
    }

    /// The lag at which a paused replay resumes.
    public var resumeMark: Int64 { resumeLag ?? maxLag / 2 }

    /// The resume pacing, or nil when a duration is negative.
    public func pacing() -> ReplayResumePacing? {
        ReplayResumePacing(minimumPause: minimumPause, ramp: resumeRamp)
    }

    /// The state machine for these marks, or nil when they are not a hysteresis.
    public func hysteresis() -> LiveLagHysteresis? {
        LiveLagHysteresis(pauseAbove: maxLag, resumeAtOrBelow: resumeMark)
    }
}
