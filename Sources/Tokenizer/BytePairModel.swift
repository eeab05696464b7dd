/// The byte-level BPE model: turns one pre-tokenized piece (raw bytes) into token ids.
///
/// Works on raw bytes rather than on the byte-level alphabet's strings: the vocabulary and
/// merges are translated once at load time, so encoding never builds a string.
struct BytePairModel: Sendable {
    /// Raw-byte spelling of every vocabulary token that is reachable by byte-level BPE.
    let vocab: ByteStringTable
    let merges: MergeTable
    /// The id of each single byte (the 256 base tokens of the byte-level alphabet).
    let byteIDs: [Int32]
    /// The reference's `ignore_merges`: a piece found whole in the vocabulary is one token,
    /// even when the merges would split it differently (Llama-3 sets it, as tiktoken does).
    let ignoreMerges: Bool

    /// Pieces longer than this use the heap-based merge loop, whose cost grows as n log n;
    /// shorter ones use a plain scan, faster for the few symbols of a typical word.
    static let heapThreshold = 48

    /// Scratch space reused across the pieces of one encode call.
    struct Scratch {
        var symbols: [Int32] = []
        var ranks: [Int32] = []
        var merged: [Int32] = []
        var next: [Int32] = []
        var prev: [Int32] = []
        var heap: [UInt64] = []
    }

    /// Appends the ids of `piece` to `ids`.
    @inline(__always)
    func encode(_ piece: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], scratch: inout Scratch) {
        if piece.count == 1 {
            ids.append(byteIDs[Int(piece[0])])
            return
        }
        if ignoreMerges {
            let id = vocab.lookup(UnsafeRawBufferPointer(piece))
            if id >= 0 {
                ids.append(id)
                return
            }
        }
        if piece.count > Self.heapThreshold {
            mergeWithHeap(piece, into: &ids, scratch: &scratch)
        } else {
            mergeByScan(piece, into: &ids, scratch: &scratch)
        }
    }

    /// Repeatedly merges the adjacent pair of lowest rank (the leftmost one on ties), which is
    /// the order the reference applies merges in.
    func mergeByScan(_ piece: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], scratch: inout Scratch) {
        let n = piece.count
        scratch.symbols.removeAll(keepingCapacity: true)
        scratch.ranks.removeAll(keepingCapacity: true)
        scratch.merged.removeAll(keepingCapacity: true)
        for b in piece { scratch.symbols.append(byteIDs[Int(b)]) }
        merges.withStorage { slots in
            for k in 0..<(n - 1) {
                if let m = merges.lookup(scratch.symbols[k], scratch.symbols[k + 1], in: slots) {
                    scratch.ranks.append(m.rank)
                    scratch.merged.append(m.merged)
                } else {
                    scratch.ranks.append(Int32.max)
                    scratch.merged.append(-1)
                }
            }
            var count = n
            scratch.symbols.withUnsafeMutableBufferPointer { sym in
                scratch.ranks.withUnsafeMutableBufferPointer { ranks in
                    scratch.merged.withUnsafeMutableBufferPointer { merged in
                        func refresh(_ k: Int) {
                            if let m = merges.lookup(sym[k], sym[k + 1], in: slots) {
                                ranks[k] = m.rank
                                merged[k] = m.merged
                            } else {
                                ranks[k] = Int32.max
                                merged[k] = -1
                            }
                        }
                        while count > 1 {
                            var best = 0
                            var bestRank = ranks[0]
                            for k in 1..<(count - 1) where ranks[k] < bestRank {
                                best = k
                                bestRank = ranks[k]
                            }
                            if bestRank == Int32.max { break }
                            sym[best] = merged[best]
                            // Remove symbol best+1 and the pair (best, best+1).
                            for k in (best + 1)..<(count - 1) { sym[k] = sym[k + 1] }
                            for k in (best + 1)..<max(best + 1, count - 2) {
                                ranks[k] = ranks[k + 1]
                                merged[k] = merged[k + 1]
                            }
                            count -= 1
                            // Refresh the pairs that now involve the merged symbol.
                            if best > 0 { refresh(best - 1) }
                            if best < count - 1 { refresh(best) }
                        }
                        for k in 0..<count { ids.append(sym[k]) }
                    }
                }
            }
        }
    }

    /// The same merge order with a priority queue of (rank, position) and a linked list of
    /// symbols, so that a long piece (a run of thousands of letters) costs n log n, not n².
    func mergeWithHeap(_ piece: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], scratch: inout Scratch) {
        let n = piece.count
        scratch.symbols.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        scratch.prev.removeAll(keepingCapacity: true)
        scratch.heap.removeAll(keepingCapacity: true)
        for (k, b) in piece.enumerated() {
            scratch.symbols.append(byteIDs[Int(b)])
            scratch.next.append(k + 1 < n ? Int32(k + 1) : -1)
            scratch.prev.append(Int32(k - 1))
        }
        merges.withStorage { slots in
            var heap = MinHeap(storage: scratch.heap)
            for k in 0..<(n - 1) {
                if let m = merges.lookup(scratch.symbols[k], scratch.symbols[k + 1], in: slots) {
                    heap.push(UInt64(UInt32(m.rank)) << 32 | UInt64(k))
                }
            }
            while let top = heap.pop() {
                let rank = Int32(truncatingIfNeeded: top >> 32)
                let pos = Int(UInt32(truncatingIfNeeded: top))
                // Skip stale entries: the symbol was absorbed or its right neighbour changed.
                // A symbol absorbed into its left neighbour is marked by symbols == -1.
                let left = scratch.symbols[pos]
                if left < 0 { continue }
                let nx = Int(scratch.next[pos])
                if nx < 0 { continue }
                guard let m = merges.lookup(left, scratch.symbols[nx], in: slots), m.rank == rank else {
                    continue
                }
                scratch.symbols[pos] = m.merged
                scratch.symbols[nx] = -1
                let after = scratch.next[nx]
                scratch.next[pos] = after
                if after >= 0 { scratch.prev[Int(after)] = Int32(pos) }
                let pv = Int(scratch.prev[pos])
                if pv >= 0, let m2 = merges.lookup(scratch.symbols[pv], m.merged, in: slots) {
                    heap.push(UInt64(UInt32(m2.rank)) << 32 | UInt64(pv))
                }
                if after >= 0, let m2 = merges.lookup(m.merged, scratch.symbols[Int(after)], in: slots) {
                    heap.push(UInt64(UInt32(m2.rank)) << 32 | UInt64(pos))
                }
            }
            scratch.heap = heap.storage
        }
        var k = 0
        while k >= 0 {
            ids.append(scratch.symbols[k])
            k = Int(scratch.next[k])
        }
    }
}

/// A binary min-heap of packed (rank, position) keys.
struct MinHeap {
    var storage: [UInt64]

    mutating func push(_ v: UInt64) {
        storage.append(v)
        var i = storage.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if storage[parent] <= v { break }
            storage[i] = storage[parent]
            i = parent
        }
        storage[i] = v
    }

    mutating func pop() -> UInt64? {
        guard let last = storage.popLast() else { return nil }
        if storage.isEmpty { return last }
        let top = storage[0]
        var i = 0
        let n = storage.count
        while true {
            var child = 2 * i + 1
            if child >= n { break }
            if child + 1 < n, storage[child + 1] < storage[child] { child += 1 }
            if storage[child] >= last { break }
            storage[i] = storage[child]
            i = child
        }
        storage[i] = last
        return top
    }
}
