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

    public init(group: String, topics: [String]) {
        self.group = group
        self.topics = topics
    }

    /// The lag at which a paused replay resumes.
    public var resumeMark: Int64 { resumeLag ?? maxLag / 2 }

    /// The state machine for these marks, or nil when they are not a hysteresis.
    public func hysteresis() -> LiveLagHysteresis? {
        LiveLagHysteresis(pauseAbove: maxLag, resumeAtOrBelow: resumeMark)
    }
}
