/// The BPE merge rules as a hash map from a pair of token ids to (rank, merged id).
///
/// Keys are the two ids packed in a `UInt64`, hashed with one multiply (Fibonacci hashing),
/// because the BPE inner loop asks for the rank of every adjacent pair. Key and value sit side
/// by side in one slot so that a probe touches one cache line.
struct MergeTable: Sendable {
    /// x: key (left << 32 | right), y: value (rank << 32 | merged); x == empty when unused.
    private var slots: [SIMD2<UInt64>] = []
    private var shift: UInt64 = 60
    private var mask = 0
    private static let empty = UInt64.max

    init(capacityFor count: Int) {
        var capacity = 16
        var bits: UInt64 = 4
        while capacity < count + count / 3 {
            capacity <<= 1
            bits += 1
        }
        slots = [SIMD2<UInt64>](repeating: SIMD2(Self.empty, 0), count: capacity)
        shift = 64 - bits
        mask = capacity - 1
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Inserts or replaces a rule. A later duplicate replaces an earlier one, as in the
    /// reference (it collects the merges into a hash map in order).
    mutating func insert(left: Int32, right: Int32, rank: Int32, merged: Int32) {
        let k = Self.key(left, right)
        var slot = Int((k &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while slots[slot].x != Self.empty && slots[slot].x != k { slot = (slot + 1) & mask }
        slots[slot] = SIMD2(k, UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: merged)))
    }

    /// (rank, merged id) for a pair, or nil when the pair never merges.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32, in slots: UnsafeBufferPointer<SIMD2<UInt64>>) -> (rank: Int32, merged: Int32)? {
        let k = Self.key(left, right)
        var slot = Int((k &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while true {
            let found = slots[slot]
            if found.x == k {
                return (Int32(truncatingIfNeeded: found.y >> 32), Int32(truncatingIfNeeded: found.y))
            }
            if found.x == Self.empty { return nil }
            slot = (slot + 1) & mask
        }
    }

    /// Runs `body` with raw access to the table, so that a whole word's merges are looked up
    /// without re-entering `withUnsafeBufferPointer` for each pair.
    @inline(__always)
    func withStorage<R>(_ body: (UnsafeBufferPointer<SIMD2<UInt64>>) -> R) -> R {
        slots.withUnsafeBufferPointer(body)
    }
}
