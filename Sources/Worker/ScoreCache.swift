import Inference
import Synchronization

/// Scores of texts seen before, so a repeated text (the same greeting, the same spam, a
/// re-scored backlog) is answered without tokenizing or running the model.
///
/// Keyed by `ScoreDigest` (model content hash, weight format, scoring settings, text); holds
/// only digests and `TextScore`s, never texts. Bounded in bytes (`capacityBytes`, estimated per
/// entry by `TextScore.cacheCost`); when an insert would pass the bound, the least recently
/// used entries are evicted. Entries live until evicted or the process ends: no time limit is
/// needed, since a key names everything the score depends on. Thresholds are not part of an
/// entry: they are applied to the cached classification, so a threshold change takes effect.
///
/// Thread-safe (one lock; a lookup or insert is a hash-table step and a few index updates).
public final class ScoreCache: Sendable {
    /// What the cache did since it was made.
    public struct Statistics: Sendable, Equatable {
        public var hits = 0
        public var misses = 0
        /// Requests that missed at intake but got a score without the model when their batch
        /// was taken (`ScoreCoalescing`): their first copy was scored meanwhile, or is in the
        /// same batch. Model runs saved: `hits + coalesced`.
        public var coalesced = 0
        public var inserts = 0
        public var evictions = 0
        public var entries = 0
        public var bytes = 0
    }

    public let capacityBytes: Int
    public let digester: ScoreDigester
    private let state: Mutex<Table>
    private let metrics: ScoreCacheMetrics?

    /// - Parameters:
    ///   - capacityBytes: the bound (greater than zero).
    ///   - digester: keys for the model and scoring settings in use.
    ///   - metrics: counters to keep up to date (the worker's registry), or none.
    public init(capacityBytes: Int, digester: ScoreDigester, metrics: ScoreCacheMetrics? = nil) {
        self.capacityBytes = max(capacityBytes, 1)
        self.digester = digester
        self.metrics = metrics
        state = Mutex(Table())
        metrics?.capacity.set(Double(self.capacityBytes))
    }

    /// The key of `text`.
    public func key(for text: String) -> ScoreDigest { digester.digest(text) }

    /// The cached score of `key`, made the most recently used; counts a hit or a miss.
    public func lookup(_ key: ScoreDigest) -> TextScore? {
        let found = state.withLock { table -> TextScore? in
            guard let index = table.index[key] else {
                table.statistics.misses += 1
                return nil
            }
            table.statistics.hits += 1
            table.touch(index)
            return table.nodes[index].score
        }
        if found == nil { metrics?.misses.increment() } else { metrics?.hits.increment() }
        return found
    }

    /// At batch time, for a request that missed at intake: the score cached meanwhile, if
    /// any (a hit here counts as coalesced; a miss counts nothing, it was counted at intake).
    func lookupQueued(_ key: ScoreDigest) -> TextScore? {
        let found = state.withLock { table -> TextScore? in
            guard let index = table.index[key] else { return nil }
            table.statistics.coalesced += 1
            table.touch(index)
            return table.nodes[index].score
        }
        if found != nil { metrics?.coalesced.increment() }
        return found
    }

    /// Counts requests that copied the score of the same text in their batch.
    func noteCoalesced(_ count: Int) {
        guard count > 0 else { return }
        state.withLock { $0.statistics.coalesced += count }
        metrics?.coalesced.increment(by: Int64(count))
    }

    /// Keeps `score` under `key` (replacing an entry of the same key), evicting the least
    /// recently used entries while the bound is exceeded. A score costing more than the whole
    /// bound is not kept.
    public func insert(_ key: ScoreDigest, _ score: TextScore) {
        let cost = score.cacheCost
        guard cost <= capacityBytes else { return }
        let (evicted, bytes) = state.withLock { table -> (Int, Int) in
            if let index = table.index[key] { table.remove(index) }
            var evicted = 0
            while table.statistics.bytes + cost > capacityBytes, let oldest = table.tail {
                table.remove(oldest)
                evicted += 1
            }
            table.add(key, score, cost: cost)
            table.statistics.inserts += 1
            table.statistics.evictions += evicted
            return (evicted, table.statistics.bytes)
        }
        if let metrics {
            if evicted > 0 { metrics.evictions.increment(by: Int64(evicted)) }
            metrics.bytes.set(Double(bytes))
        }
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// A hash table over a doubly linked recency list kept in an array (slots reused through
    /// a free list): O(1) lookup, touch, insert and eviction, no per-entry allocation.
    private struct Table: ~Copyable {
        struct Node {
            var key: ScoreDigest
            var score: TextScore
            var cost: Int
            var newer: Int?
            var older: Int?
        }

        var nodes: [Node] = []
        var free: [Int] = []
        var index: [ScoreDigest: Int] = [:]
        /// Most and least recently used.
        var head: Int?
        var tail: Int?
        var statistics = Statistics()

        mutating func add(_ key: ScoreDigest, _ score: TextScore, cost: Int) {
            let node = Node(key: key, score: score, cost: cost, newer: nil, older: head)
            let slot: Int
            if let reused = free.popLast() {
                nodes[reused] = node
                slot = reused
            } else {
                nodes.append(node)
                slot = nodes.count - 1
            }
            if let head { nodes[head].newer = slot }
            head = slot
            if tail == nil { tail = slot }
            index[key] = slot
            statistics.entries += 1
            statistics.bytes += cost
        }

        mutating func remove(_ slot: Int) {
            unlink(slot)
            index[nodes[slot].key] = nil
            statistics.entries -= 1
            statistics.bytes -= nodes[slot].cost
            nodes[slot].score = TextScore(classification: Classification(logits: []), tokenCount: 0, truncated: false, windows: 0)
            free.append(slot)
        }

        mutating func touch(_ slot: Int) {
            guard head != slot else { return }
            unlink(slot)
            nodes[slot].older = head
            nodes[slot].newer = nil
            if let head { nodes[head].newer = slot }
            head = slot
            if tail == nil { tail = slot }
        }

        private mutating func unlink(_ slot: Int) {
            let (newer, older) = (nodes[slot].newer, nodes[slot].older)
            if let newer { nodes[newer].older = older } else { head = older }
            if let older { nodes[older].newer = newer } else { tail = newer }
            nodes[slot].newer = nil
            nodes[slot].older = nil
        }
    }
}
