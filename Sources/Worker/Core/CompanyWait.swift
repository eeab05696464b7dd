/// How long a batch's first request waits for company: the ``MicroBatcher``'s rule, kept apart
/// so it can be tested without clocks.
///
/// The fixed rule (`adaptive == false`) waits `maxWait` always. It made every lone request of
/// a lightly loaded worker pay `maxWait` for nothing: at 3.5 requests/s (issue 23's 75% level)
/// a 20 ms wait finds company 7% of the time, and company gains little anyway, since a batch's
/// cost is nearly proportional to its tokens (the forward pass is padding-free). The adaptive
/// rule waits only when requests arrive densely enough that one more is expected within
/// `maxWait` (their mean gap at most `maxWait`), and otherwise starts the batch at once. Under
/// load this changes nothing: the batcher is asked for a batch when the model finishes the
/// previous one, and whatever queued meanwhile is taken without waiting (its first request
/// arrived more than `maxWait` before, or the batch is full).
///
/// The mean gap is an exponentially weighted mean over about the last `1/weight` arrivals of
/// both lanes (a fetch that delivers a burst of records contributes near-zero gaps, the quiet
/// time after it one long one, so the mean still tracks the rate); unknown until two requests
/// have arrived, and treated as sparse until then.
public struct CompanyWait: Sendable {
    public var maxWait: Duration
    public var adaptive: Bool
    /// Weight of the newest gap in the mean.
    public static let weight = 0.125
    /// The mean gap between arrivals, seconds; nil before the second arrival.
    public private(set) var meanGapSeconds: Double?
    private var lastArrival: ContinuousClock.Instant?

    public init(maxWait: Duration, adaptive: Bool) {
        self.maxWait = maxWait
        self.adaptive = adaptive
    }

    /// Notes a request's arrival (call in arrival order).
    public mutating func noteArrival(at instant: ContinuousClock.Instant) {
        if let lastArrival {
            let gap = max(0, seconds(instant - lastArrival))
            meanGapSeconds = meanGapSeconds.map { $0 + Self.weight * (gap - $0) } ?? gap
        }
        lastArrival = instant
    }

    /// How long the first request of the next batch may wait for company.
    public var wait: Duration {
        guard adaptive else { return maxWait }
        guard let meanGapSeconds, meanGapSeconds <= seconds(maxWait) else { return .zero }
        return maxWait
    }
}
