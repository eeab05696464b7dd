import Inference

/// In-flight coalescing for the score cache, decided when a batch is taken: which of its
/// requests the model must score, and which get a score without it.
///
/// At intake a repeat misses while its first copy is still queued or in the model (nothing is
/// cached yet). By the time the repeat's own batch is taken, though, its first copy has been
/// scored (batches run one after the other, and a batch's scores are cached before the next
/// batch is taken), or it is in this same batch. So here:
/// - a request whose key is now cached takes that score (`cached`);
/// - of requests sharing a key within the batch, only the first is scored and the others
///   copy its outcome (`copy`), failure included (the same tokens fail the same way); a
///   request with a deadline neither leads nor copies (a deadline is its own, and so is a
///   deadline failure), it may only take a cached score;
/// - the rest are scored (`compute`).
/// A repeat thus never costs a model run while its first copy's score is on its way, and
/// nothing waits that would not have waited anyway (no request is held back for another).
/// A plain value: no clock, no I/O; the lookup is passed in.
struct ScoreCoalescing {
    enum Source: Equatable {
        /// The model scores it: position in `computed`.
        case compute(Int)
        /// Scored earlier, cached meanwhile.
        case cached(TextScore)
        /// The same text as the batch item at this index, which is scored.
        case copy(of: Int)
    }

    /// One per batch item, in order.
    let sources: [Source]
    /// Batch indices the model scores, in order.
    let computed: [Int]

    /// One batch item as far as coalescing goes.
    struct Entry {
        /// Its cache key (nil: not cacheable, always scored).
        var key: ScoreDigest?
        var hasDeadline = false
    }

    /// - Parameters:
    ///   - entries: the batch's items, in order.
    ///   - cached: the cache's score for a key, if any.
    init(_ entries: [Entry], cached: (ScoreDigest) -> TextScore?) {
        var sources: [Source] = []
        var computed: [Int] = []
        var first: [ScoreDigest: Int] = [:]
        for (index, entry) in entries.enumerated() {
            if let key = entry.key {
                if !entry.hasDeadline, let leader = first[key] {
                    sources.append(.copy(of: leader))
                    continue
                }
                if let score = cached(key) {
                    sources.append(.cached(score))
                    continue
                }
                if !entry.hasDeadline, first[key] == nil { first[key] = index }
            }
            sources.append(.compute(computed.count))
            computed.append(index)
        }
        self.sources = sources
        self.computed = computed
    }

    /// Requests that copy another one's outcome in this batch.
    var copies: Int { sources.count(where: { if case .copy = $0 { true } else { false } }) }

    /// True when the model scored this batch item itself (what gets cached).
    func isComputed(_ index: Int) -> Bool {
        if case .compute = sources[index] { true } else { false }
    }

    /// Every batch item's outcome, from the outcomes of `computed` (in its order).
    func outcomes(_ computedOutcomes: [Result<Classification, InferenceError>]) -> [Result<Classification, InferenceError>] {
        func outcome(_ index: Int) -> Result<Classification, InferenceError> {
            switch sources[index] {
            case .compute(let position): computedOutcomes[position]
            case .cached(let score): .success(score.classification)
            case .copy(let leader): outcome(leader)
            }
        }
        return sources.indices.map(outcome)
    }
}
